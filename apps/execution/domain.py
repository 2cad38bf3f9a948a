"""Pure engine logic (no ORM, no network): params → planner config, batching, backoff, the
circuit breaker rule and the lamport reserves a maker keeps."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from apps.campaigns.domain import Params
from apps.execution.planner import Distribution, Pattern, PlanConfig

T = TypeVar("T")

# A System transfer costs 150 CUs; the two compute-budget instructions 150 each.
TRANSFER_CU = 150
BUDGET_CU = 300
# What a maker keeps back from a buy: rent of its token account and of the temporary WSOL
# account (Raydium), plus fees for the trade that sells it again. Lamports.
TOKEN_ACCOUNT_RENT = 2_039_280
MAKER_RESERVE_LAMPORTS = 2 * TOKEN_ACCOUNT_RENT + 200_000
# Retry policy for transient errors: exponential from 1 s, capped at 60 s, ±50 % jitter.
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
# Circuit breaker: N consecutive failed trades, or more than X % failed of the last M.
BREAKER_CONSECUTIVE = 5
BREAKER_WINDOW = 20
BREAKER_FAILURE_PERCENT = 50
# A run with a budget cap plans the volume that this much less than its cap pays for at the
# estimate's cost per SOL, so an estimate a few percent low does not take it past the cap.
BUDGET_MARGIN_PERCENT = 10


def plan_config(
    *,
    params: Params,
    seed: int,
    busy_ms: int,
    sell_only: bool = False,
    volume_cap_lamports: int | None = None,
    min_last_lamports: int = 1,
) -> PlanConfig:
    """The planner's view of a campaign's params. The planner has one hold time: the minimum
    (a wallet never sells sooner than the user asked). `busy_ms`: how long a trade is assumed
    in flight; `volume_cap_lamports`: the volume to plan to (the target, raised by what fees
    and failures took from it); `min_last_lamports`: the smallest last buy."""
    rate = params.cadence == "rate"
    return PlanConfig(
        seed=seed,
        wallets=params.maker_count,
        min_lamports=params.trade_size_min_lamports,
        max_lamports=params.trade_size_max_lamports,
        distribution=Distribution(params.trade_size_distribution),
        min_delay_ms=None if rate else params.delay_min_ms,
        max_delay_ms=None if rate else params.delay_max_ms,
        trades_per_minute=float(params.trades_per_minute) if rate else None,
        pattern=Pattern(params.pattern),
        buy_percent=params.buy_percent,
        hold_ms=params.hold_min_ms,
        concurrency_cap=params.concurrency_cap,
        busy_ms=busy_ms,
        sell_only=sell_only,
        volume_cap_lamports=volume_cap_lamports,
        min_last_lamports=min(min_last_lamports, params.trade_size_min_lamports),
    )


def packed(items: Sequence[T], *, size: Callable[[list[T]], int], limit: int) -> list[list[T]]:
    """`items` in order, cut into the fewest consecutive groups whose `size` (the serialized
    bytes of the transaction made for a group) is within `limit`. A group grows until one more
    item would not fit; an item that does not fit even alone is a group of its own (its send
    fails loudly instead of being dropped)."""
    groups: list[list[T]] = []
    current: list[T] = []
    for item in items:
        if current and size([*current, item]) > limit:
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    return groups


def transfer_compute_units(count: int) -> int:
    return BUDGET_CU + TRANSFER_CU * count + 1_000


def backoff_seconds(*, attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter for the `attempt`-th failure (1-based)."""
    rng = rng or random
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))
    return base * rng.uniform(0.5, 1.5)


def buy_amount(*, planned: int, available: int, minimum: int) -> int:
    """What a buy may spend: the planned size, less if the maker holds less (keeping its
    reserve); 0 when what is left is under the campaign's minimum trade (or under the planned
    size, for a last buy the planner sized under the minimum to meet the target)."""
    spendable = available - MAKER_RESERVE_LAMPORTS
    amount = min(planned, spendable)
    return amount if amount >= min(minimum, planned) else 0


def breaker_tripped(outcomes: Sequence[bool]) -> str | None:
    """Why the circuit breaker trips for the most recent trade outcomes (newest first,
    True = succeeded), or None."""
    recent = list(outcomes[:BREAKER_WINDOW])
    if len(recent) >= BREAKER_CONSECUTIVE and not any(recent[:BREAKER_CONSECUTIVE]):
        return f"Circuit breaker: the last {BREAKER_CONSECUTIVE} trades failed."
    if len(recent) >= BREAKER_WINDOW:
        failed = recent.count(False)
        if failed * 100 > BREAKER_FAILURE_PERCENT * len(recent):
            return (
                f"Circuit breaker: {failed} of the last {len(recent)} trades failed "
                f"(over {BREAKER_FAILURE_PERCENT} %)."
            )
    return None


def tip_shares(tip_lamports: int, trades: int) -> list[int]:
    """A bundle's one tip split between its `trades` in whole lamports: equal shares, the
    remainder one lamport each to the first trades (in bundle order), so the shares always
    add up to the tip and the same bundle always splits the same way."""
    share, remainder = divmod(tip_lamports, trades)
    return [share + (1 if index < remainder else 0) for index in range(trades)]
