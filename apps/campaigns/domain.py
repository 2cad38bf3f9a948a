"""Pure campaign logic (no ORM, no settings): typed params, the transition table, guardrail
rules, the funding a start needs and the logs cursor (the cost estimate is `estimate.py`).
Everything takes its inputs as arguments."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from fractions import Fraction

from apps.campaigns.models import CampaignStatus, RunStatus
from apps.core.amounts import format_sol_trimmed

LAMPORTS_PER_SIGNATURE = 5_000
BPS = 10_000
# Distribution packs System transfers into one transaction (one signature each) up to the
# packet size: 20 fit beside the compute-budget instructions (the engine packs by the real
# serialized size; tests/execution/test_makers.py checks that this matches).
DISTRIBUTE_TRANSFERS_PER_TX = 20
# Gather per maker: a final sell (maker signs) and close-accounts + sweep, signed by the maker
# and by the funding wallet, which pays that fee so the maker can be emptied to 0 lamports.
GATHER_SIGNATURES_PER_MAKER = 3


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
# Funding (the cost estimate itself is `apps.campaigns.estimate`)


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
