"""The trade planner: pure and seeded, so a run can be replayed exactly.

It turns a campaign's parameters into a stream of planned trades (when, which maker wallet,
buy or sell, how many lamports) and is consumed in small windows: `plan_window` returns the
trades due before a horizon and the state to continue from. The state is plain JSON, stored
on the run, so a crashed planner resumes where it stopped and produces the same trades.

Rules it keeps:
- one trade at a time per maker wallet: a wallet is busy from its trade until `busy_ms` later,
  and a wallet that bought waits at least the hold time before it sells;
- at most `concurrency_cap` trades in flight (each counted for `busy_ms`);
- a wallet may buy whenever it is free; it sells only when it holds tokens, everything it
  holds (a sell's `lamports` is 0: the engine sells the wallet's whole balance);
- sizes within [min, max] lamports, uniform or log-normal; gaps from a delay range or a
  trades-per-minute target, shaped by the pattern (steady, burst, wave, organic);
- with a volume cap (the run's target), buys stop once twice their lamports (each buy is sold
  again, by a sell or by the gather) reach the cap, the last ones sized to the remainder (the
  very last may be under the minimum, down to `min_last_lamports`); the makers then sell what
  they hold and the plan ends, so a run stops on its target instead of past it.

Every random draw of trade `n` comes from its own generator seeded with (seed, n), so a trade
does not depend on how many draws earlier trades made: replaying from a saved state gives the
same trades as running straight through.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import random
from dataclasses import dataclass, field


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class Pattern(enum.StrEnum):
    STEADY = "steady"
    BURST = "burst"
    WAVE = "wave"
    ORGANIC = "organic"


class Distribution(enum.StrEnum):
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


# Pattern shapes: a burst is 30 s at three times the rate, then 60 s at a fifth of it; a wave
# swings the rate ±60% over ten minutes; organic drifts minute by minute (log-normal noise).
BURST_ON_MS, BURST_OFF_MS, BURST_HIGH, BURST_LOW = 30_000, 60_000, 3.0, 0.2
WAVE_PERIOD_MS, WAVE_DEPTH = 600_000, 0.6
ORGANIC_SIGMA = 0.5


@dataclass(frozen=True)
class PlanConfig:
    seed: int
    wallets: int
    min_lamports: int
    max_lamports: int
    distribution: Distribution = Distribution.UNIFORM
    # Either a delay range between trades (ms) or a trades-per-minute target.
    min_delay_ms: int | None = 2_000
    max_delay_ms: int | None = 10_000
    trades_per_minute: float | None = None
    pattern: Pattern = Pattern.STEADY
    buy_percent: int = 50
    hold_ms: int = 0
    concurrency_cap: int = 4
    busy_ms: int = 3_000
    # No more buys: the makers sell what they hold (on the usual cadence), then the plan ends.
    sell_only: bool = False
    # Most SOL volume the plan may make (buys count twice: bought, then sold); None: no cap.
    volume_cap_lamports: int | None = None
    min_last_lamports: int = 1

    def __post_init__(self):
        if self.wallets < 1:
            raise ValueError("a plan needs at least one wallet")
        if not 0 < self.min_lamports <= self.max_lamports:
            raise ValueError("trade sizes need 0 < min <= max")
        if self.trades_per_minute is None and (
            self.min_delay_ms is None
            or self.max_delay_ms is None
            or not 0 <= self.min_delay_ms <= self.max_delay_ms
        ):
            raise ValueError("give a delay range (0 <= min <= max) or a trades-per-minute target")
        if self.trades_per_minute is not None and self.trades_per_minute <= 0:
            raise ValueError("trades per minute must be positive")
        if not 0 <= self.buy_percent <= 100:
            raise ValueError("buy percent must be within 0..100")
        if self.concurrency_cap < 1:
            raise ValueError("the concurrency cap must be at least 1")
        if self.min_last_lamports < 1:
            raise ValueError("the smallest last trade must be at least 1 lamport")


@dataclass(frozen=True)
class PlannedTrade:
    sequence: int
    at_ms: int
    wallet: int
    side: Side
    lamports: int


@dataclass
class PlanState:
    """Where the planner is. JSON-serialisable with `to_json` / `from_json`."""

    sequence: int = 0
    clock_ms: int = 0
    free_at_ms: list[int] = field(default_factory=list)
    bought_at_ms: list[int | None] = field(default_factory=list)
    in_flight_until_ms: list[int] = field(default_factory=list)
    # Volume of the trades planned so far: twice each buy's lamports (its sell comes later).
    planned_lamports: int = 0

    @classmethod
    def start(cls, config: PlanConfig, *, at_ms: int = 0) -> PlanState:
        return cls(
            clock_ms=at_ms,
            free_at_ms=[at_ms] * config.wallets,
            bought_at_ms=[None] * config.wallets,
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PlanState:
        return cls(**data)


def _rng(seed: int, sequence: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{sequence}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def rate_multiplier(config: PlanConfig, at_ms: int) -> float:
    """How much busier than the base rate the pattern is at `at_ms` (1.0 = base)."""
    if config.pattern == Pattern.BURST:
        in_burst = at_ms % (BURST_ON_MS + BURST_OFF_MS) < BURST_ON_MS
        return BURST_HIGH if in_burst else BURST_LOW
    if config.pattern == Pattern.WAVE:
        return 1.0 + WAVE_DEPTH * math.sin(2 * math.pi * at_ms / WAVE_PERIOD_MS)
    if config.pattern == Pattern.ORGANIC:
        minute = at_ms // 60_000
        return _rng(config.seed, -1 - minute).lognormvariate(0.0, ORGANIC_SIGMA)
    return 1.0


def _gap_ms(config: PlanConfig, rng: random.Random, at_ms: int) -> int:
    multiplier = max(rate_multiplier(config, at_ms), 0.05)
    if config.trades_per_minute is not None:
        # Poisson arrivals around the target: exponential gaps with the shaped rate.
        per_ms = config.trades_per_minute * multiplier / 60_000
        return max(1, round(rng.expovariate(per_ms)))
    base = rng.uniform(config.min_delay_ms, config.max_delay_ms)
    return max(0, round(base / multiplier))


def _size(config: PlanConfig, rng: random.Random) -> int:
    low, high = config.min_lamports, config.max_lamports
    if config.distribution == Distribution.LOGNORMAL and low < high:
        # Median at the geometric mean; the [min, max] range spans about ±2 sigma.
        mu = (math.log(low) + math.log(high)) / 2
        sigma = (math.log(high) - math.log(low)) / 4
        return min(high, max(low, round(rng.lognormvariate(mu, sigma))))
    return rng.randint(low, high)


def sold_out(state: PlanState) -> bool:
    """No maker holds tokens any more (a sell-only plan has nothing left to do)."""
    return all(bought is None for bought in state.bought_at_ms)


def buy_room(config: PlanConfig, state: PlanState) -> int | None:
    """Lamports the plan's buys may still spend under its volume cap (None: no cap)."""
    if config.volume_cap_lamports is None:
        return None
    return max(0, config.volume_cap_lamports - state.planned_lamports) // 2


def buys_over(config: PlanConfig, state: PlanState) -> bool:
    """No more buys: sell-only, or the volume cap leaves less than the smallest last buy."""
    room = buy_room(config, state)
    return config.sell_only or (room is not None and room < config.min_last_lamports)


def plan_done(config: PlanConfig, state: PlanState) -> bool:
    """Nothing left to plan: no more buys and every maker sold what it held."""
    return buys_over(config, state) and sold_out(state)


def _to_room(config: PlanConfig, size: int, room: int) -> int:
    """A buy's size under the cap: the whole remainder when no full-size buy would fit after
    it (so the plan does not end a small trade short of its target), else at most the room."""
    if room - size < config.min_lamports and room <= config.max_lamports:
        return room
    return min(size, room)


def next_trade(config: PlanConfig, state: PlanState) -> PlannedTrade | None:
    """Plan one more trade and advance `state` past it; None when the plan is done (sell-only
    or capped, and sold out)."""
    selling_only = buys_over(config, state)
    if selling_only and sold_out(state):
        return None
    rng = _rng(config.seed, state.sequence)
    at = state.clock_ms + (_gap_ms(config, rng, state.clock_ms) if state.sequence else 0)
    # The concurrency cap: wait for the earliest in-flight trade to finish.
    in_flight = sorted(t for t in state.in_flight_until_ms if t > at)
    if len(in_flight) >= config.concurrency_cap:
        at = in_flight[len(in_flight) - config.concurrency_cap]
    wants_buy = rng.randrange(100) < config.buy_percent

    def ready(wallet: int, side: Side) -> int:
        """When `wallet` can make a trade of `side`; -1: it cannot (nothing to sell)."""
        free = state.free_at_ms[wallet]
        bought = state.bought_at_ms[wallet]
        if side == Side.BUY:
            return free
        if bought is None:
            return -1
        return max(free, bought + config.hold_ms)

    def candidates(side: Side) -> list[tuple[int, int]]:
        return sorted(
            (max(ready(w, side), at), w) for w in range(config.wallets) if ready(w, side) >= 0
        )

    preferred, other = (Side.BUY, Side.SELL) if wants_buy else (Side.SELL, Side.BUY)
    if selling_only:
        preferred = Side.SELL
    options = candidates(preferred)
    side = preferred
    if not selling_only and (not options or options[0][0] > at):
        # Nobody can make the preferred trade now: take the other side if it is ready sooner.
        fallback = candidates(other)
        if fallback and (not options or fallback[0][0] < options[0][0]):
            options, side = fallback, other
    earliest = options[0][0]
    # Among wallets ready at that moment, pick one at random so load spreads over makers.
    ready_now = [wallet for when, wallet in options if when == earliest]
    wallet = ready_now[rng.randrange(len(ready_now))]
    lamports = 0
    if side == Side.BUY:
        lamports = _size(config, rng)
        room = buy_room(config, state)
        if room is not None:
            lamports = _to_room(config, lamports, room)
    trade = PlannedTrade(
        sequence=state.sequence, at_ms=earliest, wallet=wallet, side=side, lamports=lamports
    )
    state.planned_lamports += 2 * lamports
    state.sequence += 1
    state.clock_ms = earliest
    state.free_at_ms[wallet] = earliest + config.busy_ms
    state.bought_at_ms[wallet] = earliest if side == Side.BUY else None
    state.in_flight_until_ms = [t for t in state.in_flight_until_ms if t > earliest]
    state.in_flight_until_ms.append(earliest + config.busy_ms)
    return trade


def plan_window(
    config: PlanConfig, state: PlanState, *, until_ms: int, max_trades: int | None = None
) -> tuple[list[PlannedTrade], PlanState]:
    """Every trade planned before `until_ms` (at most `max_trades`: the rest waits for a later
    window), and the state to continue from. The input state is left as it was, so a caller
    can persist the new one in the same transaction as the trades it enqueues."""
    cursor = PlanState.from_json(state.to_json())
    trades: list[PlannedTrade] = []
    while max_trades is None or len(trades) < max_trades:
        probe = PlanState.from_json(cursor.to_json())
        trade = next_trade(config, probe)
        if trade is None or trade.at_ms >= until_ms:
            break
        trades.append(trade)
        cursor = probe
    return trades, cursor


def due_before(config: PlanConfig, state: PlanState, *, until_ms: int) -> bool:
    """Whether the plan has another trade due before `until_ms` (`state` is left as it was)."""
    trade = next_trade(config, PlanState.from_json(state.to_json()))
    return trade is not None and trade.at_ms < until_ms
