"""The `pool_prices` subscriber: it follows the pools of active campaigns over the localnet's
PubSub websocket and, after a swap, keeps the new price and sends it to the campaign's page."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.dex.base import Side
from apps.chain.dex.discovery import pool_read
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.tx import ConfirmStatus, build_transaction, send_and_confirm
from apps.core.chain import chain_run
from apps.core.prices import price_history, price_latest
from apps.execution.prices import price_feed_run
from tests.support.campaigns import make_campaign
from tests.support.engine import EventListener, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _buy(setup, lamports: int) -> None:
    pool = Pubkey.from_string(setup.pools["raydium_cpmm"].address)
    trader = setup.seeded.wallets[0]

    async def buy(rpc):
        adapter = RaydiumCpmm()
        state = await adapter.load_state(rpc=rpc, address=pool)
        quote = adapter.quote(state=state, side=Side.BUY, amount_in=lamports)
        built = await build_transaction(
            rpc=rpc, payer=trader,
            instructions=adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote,
                                           slippage_bps=100),
        )  # fmt: skip
        return await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.02)

    assert chain_run("localnet", buy).status == ConfirmStatus.LANDED


def test_the_subscriber_publishes_a_pools_new_price_after_a_swap(setup, chain):
    campaign = make_campaign(setup, status="active", dex="raydium_cpmm")
    pool = setup.pools["raydium_cpmm"]
    listener = EventListener(campaign.pk)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(price_feed_run(network="localnet", stop=stop, refresh_s=0.2),),
    )
    thread.start()
    try:
        # Followed once the subscriber subscribed the pool's vaults (the hub counts them).
        wait_for(lambda: chain.hub.subscription_count >= 2, timeout=20,
                 what="the pool's vaults subscribed")  # fmt: skip
        swapped_at = time.time()
        _buy(setup, LAMPORTS_PER_SOL)
        expected = chain_run(
            "localnet",
            lambda rpc: pool_read(rpc=rpc, dex="raydium_cpmm",
                                  address=Pubkey.from_string(pool.address),
                                  mint=Pubkey.from_string(pool.token.mint)),
        ).summary.price_sol  # fmt: skip

        def price_event():
            return next(
                (e for e in listener.drain() if e.get("event") == "price"
                 and e["price_sol"] == expected), None,
            )  # fmt: skip

        event = wait_for(price_event, timeout=20, what="the price event")
        assert event["pool"] == pool.address and event["campaign_id"] == campaign.pk
        assert event["at"] >= swapped_at
        assert price_latest(network="localnet", address=pool.address).price_sol == expected
        assert price_history(network="localnet", address=pool.address)[-1].price_sol == expected
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_the_price_chart_names_start_now_min_max_and_marks_own_trades():
    from apps.campaigns.charts import price_chart
    from apps.core.prices import PoolPrice

    assert price_chart([], []) is None
    prices = [PoolPrice("0.0000004", 1000.0), PoolPrice("0.00000038", 1010.0),
              PoolPrice("0.00000045", 1020.0)]  # fmt: skip
    svg = str(price_chart(prices, [(1005.0, "buy"), (1015.0, "sell"), (900.0, "buy")]))
    assert (
        "<title>Price in SOL per token: start 0.0000004, now 0.00000045, min 0.00000038, "
        "max 0.00000045</title>" in svg
    )
    # Trades inside the span only, on the line at the price before them.
    assert svg.count("<circle") == 2
    assert 'class="trade-buy"' in svg and 'class="trade-sell"' in svg
