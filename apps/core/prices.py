"""Live pool prices as the `pool_prices` subscriber keeps them in the cache: the latest per
pool (what the engine's price band reads) and a short history (the campaign page's chart).

Kept in the soft cache: a price is only cached to go faster, so with Redis down the engine
reads the pool over RPC (`apps.execution.prices.pool_price`) and the chart is empty, instead
of the planner's job failing on the cache."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction

from django.conf import settings

from apps.core.amounts import LAMPORTS_PER_SOL
from apps.core.outage import soft_cache

HISTORY_POINTS = 240


@dataclass(frozen=True)
class PoolPrice:
    """SOL per whole token (display string, 12 significant digits) and when it was read
    (unix seconds)."""

    price_sol: str
    at: float

    @property
    def lamports_per_token(self) -> Fraction:
        return Fraction(Decimal(self.price_sol)) * LAMPORTS_PER_SOL


def _latest_key(network: str, address: str) -> str:
    return f"prices:{network}:{address}"


def _history_key(network: str, address: str) -> str:
    return f"prices:history:{network}:{address}"


def price_store(*, network: str, address: str, price: PoolPrice) -> None:
    """Keep `price` as the pool's latest (twice the freshness bound: older is never used) and
    append it to the pool's history (the last HISTORY_POINTS prices). One subscriber per
    deployment writes, so the read-append-write of the history does not race."""
    soft_cache.set(
        _latest_key(network, address), asdict(price),
        timeout=max(1, int(2 * settings.EXECUTION_PRICE_FRESHNESS_S)),
    )  # fmt: skip
    history = soft_cache.get(_history_key(network, address)) or []
    history = [*history, asdict(price)][-HISTORY_POINTS:]
    soft_cache.set(_history_key(network, address), history, timeout=24 * 3600)


def price_latest(*, network: str, address: str) -> PoolPrice | None:
    """The pool's latest price if it is fresh (EXECUTION_PRICE_FRESHNESS_S), else None."""
    cached = soft_cache.get(_latest_key(network, address))
    if cached is None or time.time() - cached["at"] > settings.EXECUTION_PRICE_FRESHNESS_S:
        return None
    return PoolPrice(**cached)


def price_history(*, network: str, address: str, since: float = 0.0) -> list[PoolPrice]:
    """The pool's kept prices at or after `since` (unix seconds), oldest first."""
    history = soft_cache.get(_history_key(network, address)) or []
    return [PoolPrice(**item) for item in history if item["at"] >= since]
