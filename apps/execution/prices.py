"""Live pool prices for the engine and the campaign page.

The `pool_prices` subscriber (one process per deployment) keeps each followed pool's latest
price in the cache (`price_cache_key`) and sends it to the campaign pages. The engine reads it
here before each planner window; a price older than `EXECUTION_PRICE_FRESHNESS_S` (no
subscriber running, or its websocket down) is never used: the pool is read over RPC instead.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.core.cache import cache
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.dex.discovery import PoolSummary, pool_read
from apps.core.chain import chain_run
from apps.tokens.models import Pool


@dataclass(frozen=True)
class PoolPrice:
    """SOL per whole token (display string, 12 significant digits), when it was read (unix
    seconds) and at which slot."""

    price_sol: str
    at: float
    slot: int = 0

    @property
    def lamports_per_token(self) -> Fraction:
        return Fraction(Decimal(self.price_sol)) * LAMPORTS_PER_SOL


def price_cache_key(*, network: str, address: str) -> str:
    return f"prices:{network}:{address}"


def price_store(*, network: str, address: str, price: PoolPrice) -> None:
    """Keep `price` as the pool's latest (for twice the freshness bound; older is unused)."""
    cache.set(
        price_cache_key(network=network, address=address), asdict(price),
        timeout=max(1, int(2 * settings.EXECUTION_PRICE_FRESHNESS_S)),
    )  # fmt: skip


def price_from_summary(summary: PoolSummary, *, slot: int = 0) -> PoolPrice:
    return PoolPrice(price_sol=summary.price_sol, at=time.time(), slot=slot)


def pool_price(*, pool: Pool) -> PoolPrice:
    """The pool's price: the subscriber's if fresh, else read now over RPC (and kept)."""
    cached = cache.get(price_cache_key(network=pool.network, address=pool.address))
    if cached is not None and time.time() - cached["at"] <= settings.EXECUTION_PRICE_FRESHNESS_S:
        return PoolPrice(**cached)
    watch = chain_run(
        pool.network,
        lambda rpc: pool_read(rpc=rpc, dex=pool.dex, address=Pubkey.from_string(pool.address),
                              mint=Pubkey.from_string(pool.token.mint)),
    )  # fmt: skip
    price = price_from_summary(watch.summary)
    price_store(network=pool.network, address=pool.address, price=price)
    return price
