"""The campaign page's live price chart, fed by the `pool_prices` subscriber over the localnet's
PubSub websocket: a swap on the campaign's pool shows in the browser without a reload. Prints
the time from the swap's confirmation to the chart showing the new price."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.dex.discovery import pool_read
from apps.core.chain import chain_run
from apps.execution.prices import price_feed_run
from tests.e2e.live_asgi import asgi_server, shoot
from tests.execution.test_pool_prices import _buy
from tests.factories import PASSWORD
from tests.support.campaigns import make_campaign
from tests.support.engine import wait_for

__all__ = ["asgi_server"]  # a fixture


@pytest.mark.django_db(transaction=True)
def test_the_price_chart_follows_a_swap_live(asgi_server, setup, chain, alice, page, screenshots):
    campaign = make_campaign(setup, status="active", dex="raydium_cpmm", name="Priced")
    pool = setup.pools["raydium_cpmm"]
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    feed = threading.Thread(
        target=loop.run_until_complete,
        args=(price_feed_run(network="localnet", stop=stop, refresh_s=0.2),),
    )
    feed.start()
    try:
        page.goto(f"{asgi_server}/accounts/signin/")
        page.get_by_label("E-mail", exact=True).first.fill(alice.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Dashboard").wait_for()
        page.goto(f"{asgi_server}/campaigns/{campaign.pk}/")
        page.locator("#live-indicator.is-live").wait_for()
        wait_for(lambda: chain.hub.subscription_count >= 2, timeout=20,
                 what="the pool's vaults subscribed")  # fmt: skip

        # Playwright's sync API runs an event loop in this thread: chain calls go to another.
        other = ThreadPoolExecutor(max_workers=1)
        for buy in (LAMPORTS_PER_SOL, 2 * LAMPORTS_PER_SOL):
            other.submit(_buy, setup, buy).result()
            landed = time.monotonic()
            now = other.submit(
                chain_run, "localnet",
                lambda rpc: pool_read(rpc=rpc, dex="raydium_cpmm",
                                      address=Pubkey.from_string(pool.address),
                                      mint=Pubkey.from_string(pool.token.mint)),
            ).result().summary.price_sol  # fmt: skip
            page.locator("#price-chart svg title", has_text=f"now {now},").wait_for(
                state="attached", timeout=10_000
            )
            print(f"\nprice chart: swap confirmed → new price in the browser in "
                  f"{(time.monotonic() - landed) * 1000:.0f} ms (target < 1000 ms)")  # fmt: skip
        other.shutdown()
        title = page.locator("#price-chart svg title").first.text_content()
        assert title.startswith("Price in SOL per token: start ")
        shoot(page, screenshots, "price-chart")
    finally:
        loop.call_soon_threadsafe(stop.set)
        feed.join(timeout=30)
