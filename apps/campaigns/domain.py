"""Pure campaign logic (no ORM, no settings): typed params, the transition table, guardrail
rules, the cost estimate and the logs cursor. Everything takes its inputs as arguments."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal, localcontext
from fractions import Fraction

from apps.campaigns.models import CampaignStatus, RunStatus
from apps.core.amounts import LAMPORTS_PER_SOL, format_sol_trimmed

LAMPORTS_PER_SIGNATURE = 5_000
BPS = 10_000
# Compute units budgeted per swap transaction for the estimate. The engine sets the real limit
# from a simulation; 200k is Solana's default per instruction, an upper bound for both venues.
SWAP_COMPUTE_UNITS = 200_000
# Distribution packs System transfers into one transaction (one signature each) up to the
# packet size: 20 fit beside the compute-budget instructions (the engine packs by the real
# serialized size; tests/execution/test_makers.py checks that this matches).
DISTRIBUTE_TRANSFERS_PER_TX = 20
# Gather per maker: a final sell (maker signs) and close-accounts + sweep, signed by the maker
# and by the funding wallet, which pays that fee so the maker can be emptied to 0 lamports.
GATHER_SIGNATURES_PER_MAKER = 3
# Rent of a 165-byte SPL token account: a maker needs it to hold the token (returned on close).
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280


# ---------------------------------------------------------------------------------------------
# Params


@dataclass(frozen=True)
class Params:
    """Typed view of `Campaign.params` (the canonical JSON of params.CampaignParamsSerializer).
    Amounts are lamports, durations milliseconds, fees micro-lamports per compute unit."""

    mode: str
    maker_count: int
    maker_funding_lamports: int
    trade_size_min_lamports: int
    trade_size_max_lamports: int
    trade_size_distribution: str
    cadence: str
    delay_min_ms: int | None
    delay_max_ms: int | None
    trades_per_minute: int | None
    pattern: str
    buy_percent: int
    hold_min_ms: int
    hold_max_ms: int
    slippage_bps: int
    execution_mode: str
    priority_fee_policy: str
    priority_fee_micro_lamports: int
    priority_fee_percentile: int
    priority_fee_cap_micro_lamports: int
    jito_tip_min_lamports: int | None
    jito_tip_max_lamports: int | None
    jito_region: str | None
    target_volume_lamports: int | None
    budget_cap_lamports: int | None
    daily_volume_cap_lamports: int | None
    duration_seconds: int | None
    concurrency_cap: int
    seed: int
    version: int
    # Absent from campaigns saved before it existed: the default (follow) applies.
    follow_migration: bool | None = True
    # The price-band guardrail (all optional): a move from the run's start price, in %, and
    # absolute bounds in lamports per whole token.
    price_band_percent: int | None = None
    price_floor_lamports: int | None = None
    price_ceiling_lamports: int | None = None

    @property
    def has_price_band(self) -> bool:
        return any(
            v is not None
            for v in (self.price_band_percent, self.price_floor_lamports,
                      self.price_ceiling_lamports)
        )  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> Params:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    @property
    def maker_funding_total_lamports(self) -> int:
        return self.maker_count * self.maker_funding_lamports

    @property
    def compute_unit_price_micro_lamports(self) -> int:
        """The price the estimate assumes: the fixed price, or the dynamic policy's cap."""
        if self.priority_fee_policy == "fixed":
            return self.priority_fee_micro_lamports
        return self.priority_fee_cap_micro_lamports


# ---------------------------------------------------------------------------------------------
# The transition table


class Action(enum.StrEnum):
    SCHEDULE = "schedule"  # draft/ended → scheduled (beat starts it at start_at)
    START = "start"  # → active, creating a run
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"  # → stopping: the engine sells and gathers; a scheduled one just stops
    FINISH = "finish"  # stopping → stopped, once the engine gathered everything
    COMPLETE = "complete"  # the engine reached the target (after its gather)
    FAIL = "fail"  # the engine (or beat) could not go on


S = CampaignStatus
ENDED = (S.STOPPED, S.COMPLETED, S.FAILED)

# action → {from state: to state}. The only place that says which moves exist.
TRANSITIONS: dict[Action, dict[str, str]] = {
    Action.SCHEDULE: {S.DRAFT: S.SCHEDULED, **dict.fromkeys(ENDED, S.SCHEDULED)},
    Action.START: {S.DRAFT: S.ACTIVE, S.SCHEDULED: S.ACTIVE, **dict.fromkeys(ENDED, S.ACTIVE)},
    Action.PAUSE: {S.ACTIVE: S.PAUSED},
    Action.RESUME: {S.PAUSED: S.ACTIVE},
    Action.STOP: {S.SCHEDULED: S.STOPPED, S.ACTIVE: S.STOPPING, S.PAUSED: S.STOPPING},
    Action.FINISH: {S.STOPPING: S.STOPPED},
    Action.COMPLETE: {S.ACTIVE: S.COMPLETED, S.PAUSED: S.COMPLETED, S.STOPPING: S.COMPLETED},
    Action.FAIL: {
        S.SCHEDULED: S.FAILED, S.ACTIVE: S.FAILED, S.PAUSED: S.FAILED, S.STOPPING: S.FAILED,
    },
}  # fmt: skip

# action → states where repeating it changes nothing (already there, or already past it).
NOOPS: dict[Action, frozenset[str]] = {
    Action.SCHEDULE: frozenset({S.SCHEDULED}),
    Action.START: frozenset({S.ACTIVE}),
    Action.PAUSE: frozenset({S.PAUSED}),
    Action.RESUME: frozenset({S.ACTIVE}),
    Action.STOP: frozenset({S.STOPPING, *ENDED}),
    Action.FINISH: frozenset({S.STOPPED}),
    Action.COMPLETE: frozenset({S.COMPLETED}),
    Action.FAIL: frozenset({S.FAILED}),
}

# The run follows its campaign; draft and scheduled campaigns have no live run.
RUN_STATUS_FOR = {
    S.ACTIVE: RunStatus.RUNNING,
    S.PAUSED: RunStatus.PAUSED,
    S.STOPPING: RunStatus.STOPPING,
    S.STOPPED: RunStatus.STOPPED,
    S.COMPLETED: RunStatus.COMPLETED,
    S.FAILED: RunStatus.FAILED,
}

_HINTS: dict[tuple[Action, str], str] = {
    (Action.START, S.PAUSED): "The campaign is paused: resume it instead of starting it again.",
    (Action.START, S.STOPPING): "The campaign is still stopping (its funds are being "
    "gathered); start it again once it has stopped.",
    (Action.SCHEDULE, S.ACTIVE): "The campaign is running: stop it before scheduling it again.",
    (Action.SCHEDULE, S.PAUSED): "The campaign is paused: stop it before scheduling it again.",
    (Action.SCHEDULE, S.STOPPING): "The campaign is still stopping; schedule it once it "
    "has stopped.",
    (Action.STOP, S.DRAFT): "The campaign has not been started, so there is nothing to stop.",
}


class TransitionRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def transition_target(*, current: str, action: Action) -> str | None:
    """The state `action` moves a campaign in `current` to; None when it is a no-op.
    Raises TransitionRefused with a message a user can act on."""
    if current in NOOPS[action]:
        return None
    target = TRANSITIONS[action].get(current)
    if target is not None:
        return target
    hint = _HINTS.get((action, current))
    if hint is None:
        allowed = sorted(TRANSITIONS[action])
        label = S(current).label.lower()
        hint = (
            f"A {label} campaign cannot {action.value}; that is only possible from "
            f"{_join([S(state).label.lower() for state in allowed])}."
        )
    raise TransitionRefused(hint)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# ---------------------------------------------------------------------------------------------
# Guardrails


@dataclass(frozen=True)
class Limits:
    """The platform's limits (from settings) that every campaign must respect."""

    max_slippage_bps: int
    warn_slippage_bps: int
    min_trade_lamports: int
    max_trade_lamports: int
    min_makers: int
    max_makers: int
    user_daily_volume_cap_lamports: int
    # Whose limit `max_makers` is, for the refusal: the platform's, or one an admin set.
    max_makers_note: str = "platform limit"


@dataclass(frozen=True)
class GuardrailWarning:
    field: str
    message: str


def guardrail_check(*, params: Params, limits: Limits) -> tuple[dict[str, list[str]], list]:
    """(refusals by field, warnings) of params against the platform limits. Field names are
    the API's (`params.slippage_bps`)."""
    refusals: dict[str, list[str]] = {}
    warnings: list[GuardrailWarning] = []

    def refuse(name: str, message: str) -> None:
        refusals.setdefault(f"params.{name}", []).append(message)

    if params.slippage_bps > limits.max_slippage_bps:
        refuse(
            "slippage_bps",
            f"At most {limits.max_slippage_bps} bps: higher slippage is refused by the platform.",
        )
    elif params.slippage_bps > limits.warn_slippage_bps:
        warnings.append(
            GuardrailWarning(
                "params.slippage_bps",
                f"Slippage above {limits.warn_slippage_bps} bps lets each trade lose that much "
                "to price moves and front-running.",
            )
        )
    if params.trade_size_min_lamports < limits.min_trade_lamports:
        refuse(
            "trade_size_min_sol",
            f"At least {format_sol_trimmed(limits.min_trade_lamports)} SOL (platform limit).",
        )
    if params.trade_size_max_lamports > limits.max_trade_lamports:
        refuse(
            "trade_size_max_sol",
            f"At most {format_sol_trimmed(limits.max_trade_lamports)} SOL (platform limit).",
        )
    if not limits.min_makers <= params.maker_count <= limits.max_makers:
        refuse(
            "maker_count",
            f"Between {limits.min_makers} and {limits.max_makers} maker wallets "
            f"({limits.max_makers_note}).",
        )
    cap = params.daily_volume_cap_lamports
    if cap is not None and cap > limits.user_daily_volume_cap_lamports:
        refuse(
            "daily_volume_cap_sol",
            f"At most {format_sol_trimmed(limits.user_daily_volume_cap_lamports)} SOL per day "
            "(platform limit per user).",
        )
    return refusals, warnings


# ---------------------------------------------------------------------------------------------
# Cost estimate


@dataclass(frozen=True)
class PoolReserves:
    """A constant-product pool as the estimate needs it: the SOL and token reserves that price
    it (virtual reserves on a pump.fun curve) and the venue fee, taken from each swap's input."""

    sol_reserve_lamports: int
    token_reserve_raw: int
    fee_bps: int


def swap_fee(amount_in: int, fee_bps: int) -> int:
    """The venue fee on an input, rounded up (Raydium's ceil rule; never under-estimated)."""
    return -(-amount_in * fee_bps // BPS)


def swap_out(*, amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Constant product x·y = k with the fee taken from the input, rounded down."""
    net = amount_in - swap_fee(amount_in, fee_bps)
    return reserve_out * net // (reserve_in + net)


def round_trip_cost(*, size_lamports: int, pool: PoolReserves) -> int:
    """Lamports lost by buying for `size_lamports` and selling the tokens straight back: both
    venue fees and the price impact of both legs. The whole input stays in the pool (the fee
    too), which is what moves the price for the sell."""
    S, T = pool.sol_reserve_lamports, pool.token_reserve_raw
    tokens = swap_out(amount_in=size_lamports, reserve_in=S, reserve_out=T, fee_bps=pool.fee_bps)
    back = swap_out(
        amount_in=tokens, reserve_in=T - tokens, reserve_out=S + size_lamports,
        fee_bps=pool.fee_bps,
    )  # fmt: skip
    return size_lamports - back


def lognormal_parameters(low: int, high: int) -> tuple[float, float]:
    """ln(size) ~ N(mu, sigma) with [low, high] at ±2 sigma (sizes are clipped to it)."""
    mu = (math.log(low) + math.log(high)) / 2
    return mu, (math.log(high) - math.log(low)) / 4


def mean_trade_lamports(params: Params) -> int:
    """Expected trade size in lamports. For log-normal sizes it is the mean of the clipped
    distribution, computed in floating point and rounded: a statistical expectation that sizes
    an estimate, never an amount that is sent or booked."""
    low, high = params.trade_size_min_lamports, params.trade_size_max_lamports
    if params.trade_size_distribution == "uniform" or low == high:
        return (low + high) // 2
    mu, sigma = lognormal_parameters(low, high)

    def phi(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    alpha, beta = (math.log(low) - mu) / sigma, (math.log(high) - mu) / sigma
    inside = math.exp(mu + sigma**2 / 2) * (phi(beta - sigma) - phi(alpha - sigma))
    return round(low * phi(alpha) + high * (1 - phi(beta)) + inside)


def mean_gap_ms(params: Params) -> int:
    if params.cadence == "rate":
        return 60_000 // params.trades_per_minute
    return (params.delay_min_ms + params.delay_max_ms) // 2


@dataclass(frozen=True)
class Estimate:
    """Expected cost of a campaign. Every amount is integer lamports."""

    mean_trade_lamports: int
    trades: int | None
    volume_lamports: int | None
    fee_per_trade_lamports: int
    tip_per_trade_lamports: int
    round_trip_cost_lamports: int
    network_fees_lamports: int
    priority_fees_lamports: int
    tips_lamports: int
    price_impact_lamports: int
    setup_fees_lamports: int
    total_cost_lamports: int
    maker_funding_lamports: int
    sol_needed_upfront_lamports: int
    trades_within_budget: int | None
    warnings: list[GuardrailWarning] = field(default_factory=list)
    # The cost of 1 SOL of volume, by part (network_fees, priority_fees, tips, price_impact
    # with the venue fees, setup_fees, rent_not_returned, total); None without a volume.
    per_sol_volume_lamports: dict[str, int] | None = None
    # What $100,000 of volume costs, in US cents: every cost and the volume are SOL, so the
    # ratio holds at any SOL price (`cost_per_usd_volume` gives it in lamports at a price).
    cost_per_100k_usd_cents: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def setup_fees(params: Params) -> tuple[int, int]:
    """(distribute, gather) network fees in lamports, both paid by the funding wallet."""
    distribute = -(-params.maker_count // DISTRIBUTE_TRANSFERS_PER_TX) * LAMPORTS_PER_SIGNATURE
    gather = params.maker_count * GATHER_SIGNATURES_PER_MAKER * LAMPORTS_PER_SIGNATURE
    return distribute, gather


def sol_needed_upfront(params: Params) -> int:
    """What the funding wallet must hold to start: every maker's funding plus the distribution
    and gather fees it pays itself."""
    distribute, gather = setup_fees(params)
    return params.maker_funding_total_lamports + distribute + gather


def required_to_start(params: Params) -> int:
    """Lamports the funding wallet must hold for a start. Live: `sol_needed_upfront`. Dry run:
    nothing (nothing is sent). Sell-only: only the gather fees (no maker is funded)."""
    if params.mode == "dry_run":
        return 0
    if params.mode == "sell_only":
        return setup_fees(params)[1]
    return sol_needed_upfront(params)


def estimate(*, params: Params, pool: PoolReserves, window_seconds: int | None = None) -> Estimate:
    """Trades to reach the target volume (or that fit the window at the cadence), and what they
    cost: network fees (5000 lamports per signature + compute-unit price * SWAP_COMPUTE_UNITS),
    Jito tips (the mean tip per trade: an upper bound, bundles share a tip), and price impact.

    Price impact assumes every buy is eventually sold back (during the run or by the final
    gather), so trades pair into round trips priced on the pool as it is now, each at the mean
    trade size; other traders' flow is ignored."""
    mean = mean_trade_lamports(params)
    warnings: list[GuardrailWarning] = []
    priority = -(-params.compute_unit_price_micro_lamports * SWAP_COMPUTE_UNITS // 1_000_000)
    fee_per_trade = LAMPORTS_PER_SIGNATURE + priority
    tip = 0
    if params.execution_mode == "jito":
        tip = (params.jito_tip_min_lamports + params.jito_tip_max_lamports) // 2
    rt_cost = round_trip_cost(size_lamports=mean, pool=pool)

    by_target = -(-params.target_volume_lamports // mean) if params.target_volume_lamports else None
    window = params.duration_seconds or window_seconds
    by_window = window * 1000 // max(mean_gap_ms(params), 1) if window else None
    if by_target is not None and by_window is not None and by_window < by_target:
        warnings.append(
            GuardrailWarning(
                "params.target_volume_sol",
                f"At this cadence the window ends after about {by_window} trades "
                f"({format_sol_trimmed(by_window * mean)} SOL), before the target volume.",
            )
        )
    candidates = [n for n in (by_target, by_window) if n is not None]
    trades = min(candidates) if candidates else None

    distribute, gather = setup_fees(params)
    n = trades or 0
    round_trips = -(-n // 2)
    network = n * LAMPORTS_PER_SIGNATURE
    priority_total = n * priority
    tips = n * tip
    impact = round_trips * rt_cost
    total = network + priority_total + tips + impact + distribute + gather

    within_budget = None
    if params.budget_cap_lamports is not None:
        per_trade = fee_per_trade + tip + -(-rt_cost // 2)
        within_budget = max(params.budget_cap_lamports - distribute - gather, 0) // per_trade
        if trades is not None and within_budget < trades:
            warnings.append(
                GuardrailWarning(
                    "params.budget_cap_sol",
                    f"The budget cap runs out after about {within_budget} trades "
                    f"({format_sol_trimmed(within_budget * mean)} SOL of volume), "
                    "before the target.",
                )
            )
    if trades is None:
        warnings.append(
            GuardrailWarning(
                "params.target_volume_sol",
                "Without a target volume or a window the number of trades cannot be estimated.",
            )
        )
    per_maker = params.trade_size_max_lamports + fee_per_trade + tip + TOKEN_ACCOUNT_RENT_LAMPORTS
    if params.maker_funding_lamports < per_maker:
        warnings.append(
            GuardrailWarning(
                "params.maker_funding_sol",
                f"Each maker wallet should hold at least {format_sol_trimmed(per_maker)} SOL: the "
                "largest trade, its fees and a token account's rent (returned at the end).",
            )
        )
    per_sol = None
    cents = None
    if trades:
        volume = trades * mean
        # The gather closes every token account, so no rent stays behind.
        parts = {"network_fees": network, "priority_fees": priority_total, "tips": tips,
                 "price_impact": impact, "setup_fees": distribute + gather,
                 "rent_not_returned": 0, "total": total}  # fmt: skip
        per_sol = {
            part: -(-lamports * LAMPORTS_PER_SOL // volume) for part, lamports in parts.items()
        }
        cents = -(-total * 100_000 * 100 // volume)
    return Estimate(
        mean_trade_lamports=mean,
        trades=trades,
        volume_lamports=None if trades is None else trades * mean,
        fee_per_trade_lamports=fee_per_trade,
        tip_per_trade_lamports=tip,
        round_trip_cost_lamports=rt_cost,
        network_fees_lamports=network,
        priority_fees_lamports=priority_total,
        tips_lamports=tips,
        price_impact_lamports=impact,
        setup_fees_lamports=distribute + gather,
        total_cost_lamports=total,
        maker_funding_lamports=params.maker_funding_total_lamports,
        sol_needed_upfront_lamports=sol_needed_upfront(params),
        trades_within_budget=within_budget,
        warnings=warnings,
        per_sol_volume_lamports=per_sol,
        cost_per_100k_usd_cents=cents,
    )


def cost_per_usd_volume(
    *, cost_per_sol_volume_lamports: int, usd_volume: int, sol_price_usd_cents: int
) -> int:
    """Lamports that `usd_volume` dollars of volume cost at a SOL price (in cents) the user
    gives: the SOL volume it takes, times the cost of each SOL of it (rounded up)."""
    if sol_price_usd_cents <= 0:
        raise ValueError("the SOL price must be positive")
    return -(-cost_per_sol_volume_lamports * usd_volume * 100 // sol_price_usd_cents)


# ---------------------------------------------------------------------------------------------
# The price band


def _sol(lamports_per_token: Fraction) -> str:
    with localcontext() as context:
        context.prec = 9
        value = Decimal(lamports_per_token.numerator) / lamports_per_token.denominator / 10**9
    return format(value.normalize(), "f")


def price_band_breach(*, params: Params, start: Fraction | None, now: Fraction) -> str | None:
    """Why the price band stops trading at price `now` (lamports per whole token; `start` is
    the run's price at its first window), or None while the price is inside it."""
    floor, ceiling = params.price_floor_lamports, params.price_ceiling_lamports
    if floor is not None and now < floor:
        return (
            f"Price band: one token is worth {_sol(now)} SOL, below the floor of "
            f"{_sol(Fraction(floor))} SOL."
        )
    if ceiling is not None and now > ceiling:
        return (
            f"Price band: one token is worth {_sol(now)} SOL, above the ceiling of "
            f"{_sol(Fraction(ceiling))} SOL."
        )
    band = params.price_band_percent
    if band is not None and start:
        moved = abs(now - start) * 100 / start
        if moved > band:
            return (
                f"Price band: the price moved {float(moved):.1f} % (from {_sol(start)} to "
                f"{_sol(now)} SOL per token), more than the {band} % allowed."
            )
    return None
