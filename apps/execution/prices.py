"""Live pool prices for the engine and the campaign page.

The `pool_prices` subscriber (one process per deployment) keeps each followed pool's latest
price in the cache (`apps.core.prices`) and sends it to the campaign pages. The engine reads it
here before each planner window; a price older than `EXECUTION_PRICE_FRESHNESS_S` (no
subscriber running, or its websocket down) is never used: the pool is read over RPC instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from solders.pubkey import Pubkey

from apps.campaigns.models import Campaign, CampaignStatus
from apps.chain.dex.discovery import PoolSummary, pool_read
from apps.chain.errors import ChainError
from apps.chain.subscriptions import AccountStream, AccountUpdate, pubsub_url, rpc_snapshot
from apps.core.chain import chain_run, rpc_pool
from apps.core.prices import PoolPrice, price_latest, price_store
from apps.core.realtime import campaign_group
from apps.tokens.models import Pool

log = logging.getLogger(__name__)


def price_from_summary(summary: PoolSummary) -> PoolPrice:
    return PoolPrice(price_sol=summary.price_sol, at=time.time())


def pool_price(*, pool: Pool) -> PoolPrice:
    """The pool's price: the subscriber's if fresh, else read now over RPC (and kept)."""
    fresh = price_latest(network=pool.network, address=pool.address)
    if fresh is not None:
        return fresh
    watch = chain_run(
        pool.network,
        lambda rpc: pool_read(rpc=rpc, dex=pool.dex, address=Pubkey.from_string(pool.address),
                              mint=Pubkey.from_string(pool.token.mint)),
    )  # fmt: skip
    price = price_from_summary(watch.summary)
    price_store(network=pool.network, address=pool.address, price=price)
    return price


async def price_feed_run(
    *, network: str, stop: asyncio.Event, refresh_s: float = 5.0, stream_name: str = "pools"
) -> None:
    """The `pool_prices` subscriber: follow the pools of the network's active campaigns over
    the PubSub websocket (accounts that move each pool's price), and on each change read the
    pool again, keep its price (`price_store`) and send it to its campaigns' pages. Which
    pools are followed is looked at again every `refresh_s`. Runs until `stop` is set."""
    rpc = rpc_pool(network)
    stream = AccountStream(
        ws_url=pubsub_url(settings.SOLANA_RPC_URLS[network][0]), snapshot=rpc_snapshot(rpc),
        name=stream_name,
    )  # fmt: skip
    followed: dict[str, tuple[Pool, tuple[Pubkey, ...]]] = {}
    owner_of: dict[Pubkey, str] = {}
    dirty: set[str] = set()
    wake = asyncio.Event()

    def on_update(update: AccountUpdate) -> None:
        address = owner_of.get(update.address)
        if address is not None:
            dirty.add(address)
            wake.set()

    stream.on_update = on_update
    runner = asyncio.create_task(stream.run())
    try:
        while not stop.is_set():
            pools = await sync_to_async(_active_pools)(network)
            for address in set(followed) - set(pools):
                stream.unwatch(followed.pop(address)[1])
            for address, pool in pools.items():
                if address in followed:
                    continue
                try:
                    watch = await _read(rpc, pool)
                except ChainError as exc:  # e.g. a migrated curve: looked at again next time
                    log.warning("pool_prices cannot read pool %s: %s", address, exc)
                    continue
                followed[address] = (pool, watch.accounts)
                for account in watch.accounts:
                    owner_of[account] = address
                stream.watch(watch.accounts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), refresh_s)
            wake.clear()
            while dirty:
                address = dirty.pop()
                if address not in followed:
                    continue
                try:
                    await _publish(rpc, network, followed[address][0])
                except ChainError as exc:
                    log.warning("pool_prices cannot read pool %s: %s", address, exc)
    finally:
        stream.stop()
        await runner
        # The ORM ran in sync_to_async's thread: its connection goes with the feed.
        await sync_to_async(connections.close_all)()


async def _read(rpc, pool: Pool):
    return await pool_read(rpc=rpc, dex=pool.dex, address=Pubkey.from_string(pool.address),
                           mint=Pubkey.from_string(pool.token.mint))  # fmt: skip


async def _publish(rpc, network: str, pool: Pool) -> None:
    watch = await _read(rpc, pool)
    price = price_from_summary(watch.summary)
    price_store(network=network, address=pool.address, price=price)
    campaigns = await sync_to_async(list)(
        Campaign.objects.filter(pool=pool, status=CampaignStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    layer = get_channel_layer()
    for campaign_id in campaigns:
        await layer.group_send(
            campaign_group(campaign_id),
            {"type": "campaign.event", "event": "price", "campaign_id": campaign_id,
             "pool": pool.address, "price_sol": price.price_sol, "at": price.at},
        )  # fmt: skip


def _active_pools(network: str) -> dict[str, Pool]:
    pools = Pool.objects.filter(
        network=network, campaigns__status=CampaignStatus.ACTIVE
    ).select_related("token")
    return {pool.address: pool for pool in pools}
