"""The cost estimate of a campaign (pure: no ORM, no settings): the run's own plan replayed on
the pool's curve as it is now.

The planner is seeded and the run uses the campaign's seed, so the estimate walks the very
trades the run will plan (sizes, buy/sell mix, which maker sells what it holds), each on the
venue's curve: constant product on the pool's reserves (a pump.fun curve's virtual reserves),
the venue fee taken from the input and kept in the pool (Raydium AMM v4 and CPMM) or taken on
the SOL leg and paid out of it (pump.fun, PumpSwap). What the pool keeps at the end, after the
gather sold what the makers still hold, is the price impact the run pays (venue fees
included). Network fees count the signatures of every transaction the run sends: trades, the
distribution batches, the gather's sells and sweeps; priority fees their compute-unit limits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction

from apps.campaigns.domain import (
    BPS,
    DISTRIBUTE_TRANSFERS_PER_TX,
    LAMPORTS_PER_SIGNATURE,
    GuardrailWarning,
    Params,
    sol_needed_upfront,
)
from apps.core.amounts import LAMPORTS_PER_SOL, format_sol_trimmed
from apps.execution.planner import PlanConfig, PlanState, Side, next_trade

# Compute-unit limits the engine sets on a trade (what its simulation used, + 10 % or at least
# 1,000 units, `apps.chain.tx`), per venue: the mean of a buy's and a sell's units measured by
# `bench.swap_cost` on the localnet (real Raydium programs; pump.fun and PumpSwap are the
# localnet's emulations, which use fewer units than the mainnet programs), plus the price
# instruction. The priority fee is the price times this limit, not times what was consumed.
TRADE_COMPUTE_UNITS = {
    "raydium_amm_v4": 43_300,
    "raydium_cpmm": 57_400,
    "pumpfun": 5_500,
    "pumpswap": 23_300,
}
# A venue the table does not know: Solana's default of 200k units per instruction.
DEFAULT_TRADE_COMPUTE_UNITS = 200_000
# The gather's sweep (close the token accounts, send every lamport back) sets this limit.
SWEEP_COMPUTE_UNITS = 20_000
# A distribution batch's limit: the compute-budget instructions, one transfer each, a margin
# (`apps.execution.domain.transfer_compute_units`).
DISTRIBUTE_BASE_CU, DISTRIBUTE_TRANSFER_CU = 1_300, 150
# The gather's sell and sweep are each signed by the maker and by the funding wallet (it pays
# the fee, so the maker can be emptied to 0 lamports).
GATHER_TX_SIGNATURES = 2
# Rent of a 165-byte SPL token account: a maker needs it to hold the token (returned on close).
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280
# Longer plans are replayed this far and scaled to their target or window.
MAX_REPLAYED_TRADES = 5_000


@dataclass(frozen=True)
class PoolReserves:
    """A pool as the estimate needs it: the SOL and token reserves that price it (virtual
    reserves on a pump.fun curve), the venue fee, where it is taken, and the compute-unit limit
    of a trade on the venue."""

    sol_reserve_lamports: int
    token_reserve_raw: int
    fee_bps: int
    # False: from the input, kept in the pool (Raydium). True: on the SOL leg, paid to the
    # venue's fee recipients, outside the curve (pump.fun, PumpSwap).
    fee_on_sol: bool = False
    trade_compute_units: int = DEFAULT_TRADE_COMPUTE_UNITS


def swap_fee(amount_in: int, fee_bps: int) -> int:
    """The venue fee on an amount, rounded up (Raydium's ceil rule; never under-estimated)."""
    return -(-amount_in * fee_bps // BPS)


def swap_out(*, amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Constant product x·y = k with the fee taken from the input, rounded down."""
    net = amount_in - swap_fee(amount_in, fee_bps)
    return reserve_out * net // (reserve_in + net)


class Curve:
    """The pool's reserves as the replayed trades move them."""

    def __init__(self, pool: PoolReserves):
        self.pool = pool
        self.sol, self.tokens = pool.sol_reserve_lamports, pool.token_reserve_raw

    @property
    def price(self) -> Fraction:
        """Lamports per raw token."""
        return Fraction(self.sol, self.tokens)

    def buy(self, lamports: int) -> int:
        """Tokens a buy that spends `lamports` (fee included) gets."""
        fee_bps = self.pool.fee_bps
        if self.pool.fee_on_sol:
            net = lamports * BPS // (BPS + fee_bps)
            tokens = self.tokens * net // (self.sol + net)
            self.sol += net
        else:
            tokens = swap_out(
                amount_in=lamports, reserve_in=self.sol, reserve_out=self.tokens, fee_bps=fee_bps
            )
            self.sol += lamports
        self.tokens -= tokens
        return tokens

    def sell(self, tokens: int) -> int:
        """Lamports a sell of `tokens` gets (fee deducted)."""
        fee_bps = self.pool.fee_bps
        if self.pool.fee_on_sol:
            gross = self.sol * tokens // (self.tokens + tokens)
            out, self.sol = gross - swap_fee(gross, fee_bps), self.sol - gross
        else:
            out = swap_out(
                amount_in=tokens, reserve_in=self.tokens, reserve_out=self.sol, fee_bps=fee_bps
            )
            self.sol -= out
        self.tokens += tokens
        return out


def move_ppm(start: Fraction, now: Fraction) -> int:
    """How far the price moved from `start`, in millionths of it (rounded towards zero): a
    small trade on a deep pool moves it by less than a basis point."""
    return int((now / start - 1) * 1_000_000)


def round_trip_cost(*, size_lamports: int, pool: PoolReserves) -> int:
    """Lamports lost by buying for `size_lamports` and selling the tokens straight back: both
    venue fees and the price impact of both legs."""
    curve = Curve(pool)
    return size_lamports - curve.sell(curve.buy(size_lamports))


@dataclass
class PlanReplay:
    """What the replayed plan does: its transactions and their effect on the pool."""

    buys: int = 0
    sells: int = 0
    gather_sells: int = 0
    volume_lamports: int = 0
    paid_lamports: int = 0  # spent by buys
    received_lamports: int = 0  # got back by sells
    peak_move_ppm: int = 0
    # Before the gather: where the plan leaves the price with what the makers still hold.
    plan_end_move_ppm: int = 0
    end_move_ppm: int = 0  # after the gather sold everything
    cut_by_window: bool = False  # the window ended before the plan did

    @property
    def trades(self) -> int:
        return self.buys + self.sells + self.gather_sells

    @property
    def impact_lamports(self) -> int:
        return self.paid_lamports - self.received_lamports


def replay(*, plan: PlanConfig, pool: PoolReserves, window_ms: int | None) -> PlanReplay:
    """The plan's trades (those before `window_ms`) on the pool's curve, topped up to its
    volume cap as the engine does, then the gather's sells of what each maker still holds. A
    plan longer than MAX_REPLAYED_TRADES is replayed that far and scaled to the rest."""
    curve, state, result = Curve(pool), PlanState.start(plan), PlanReplay()
    start = curve.price
    held, target = [0] * plan.wallets, plan.volume_cap_lamports
    while result.buys + result.sells < MAX_REPLAYED_TRADES:
        trade = next_trade(plan, state)
        if trade is None:
            if target is None or result.volume_lamports >= target:
                break
            # Fees took some of the planned volume: the engine raises the cap by what is
            # short, at least one smallest buy and its sell (`apps.execution.steps.plan`).
            short = max(target - result.volume_lamports, 2 * plan.min_last_lamports)
            plan = replace(plan, volume_cap_lamports=state.planned_lamports + short)
            continue
        if window_ms is not None and trade.at_ms >= window_ms:
            result.cut_by_window = True
            break
        if trade.side == Side.BUY:
            held[trade.wallet] += curve.buy(trade.lamports)
            result.buys += 1
            result.paid_lamports += trade.lamports
            result.volume_lamports += trade.lamports
        else:
            out = curve.sell(held[trade.wallet])
            held[trade.wallet] = 0
            result.sells += 1
            result.received_lamports += out
            result.volume_lamports += out
        result.peak_move_ppm = max(result.peak_move_ppm, move_ppm(start, curve.price))
    result.plan_end_move_ppm = move_ppm(start, curve.price)
    for tokens in held:
        if tokens:
            out = curve.sell(tokens)
            result.gather_sells += 1
            result.received_lamports += out
            result.volume_lamports += out
    result.end_move_ppm = move_ppm(start, curve.price)
    return _scaled(result, _scale(cap=target, state=state, window_ms=window_ms, replay=result))


def _scale(*, cap: int | None, state: PlanState, window_ms: int | None, replay: PlanReplay):
    """1 when the replay covered the plan; otherwise how many times longer the plan is."""
    if replay.buys + replay.sells < MAX_REPLAYED_TRADES:
        return Fraction(1)
    if cap is not None:
        # The engine tops the plan up until its volume (what the ledger counts) reaches the cap.
        return Fraction(cap, max(replay.volume_lamports, 1))
    return Fraction(window_ms or 0, max(state.clock_ms, 1))


def _scaled(replay: PlanReplay, scale: Fraction) -> PlanReplay:
    if scale <= 1:
        return replay
    counts = ("buys", "sells", "gather_sells", "volume_lamports", "paid_lamports",
              "received_lamports")  # fmt: skip
    for name in counts:
        setattr(replay, name, math.ceil(getattr(replay, name) * scale))
    return replay


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


def priority_lamports(params: Params, compute_units: int) -> int:
    """The priority fee of one transaction: the compute-unit price times its limit."""
    return -(-params.compute_unit_price_micro_lamports * compute_units // 1_000_000)


def setup_costs(params: Params, *, gather_sells: int, pool: PoolReserves) -> tuple[int, int]:
    """(network, priority) lamports of the distribution batches, the gather's sells of what
    makers still hold and the sweep of every maker, all paid by the funding wallet."""
    batches = -(-params.maker_count // DISTRIBUTE_TRANSFERS_PER_TX)
    network = batches * LAMPORTS_PER_SIGNATURE + (
        (gather_sells + params.maker_count) * GATHER_TX_SIGNATURES * LAMPORTS_PER_SIGNATURE
    )
    full, rest = divmod(params.maker_count, DISTRIBUTE_TRANSFERS_PER_TX)
    distribute = sum(
        priority_lamports(params, DISTRIBUTE_BASE_CU + DISTRIBUTE_TRANSFER_CU * count)
        for count in [DISTRIBUTE_TRANSFERS_PER_TX] * full + ([rest] if rest else [])
    )
    priority = (
        distribute
        + gather_sells * priority_lamports(params, pool.trade_compute_units)
        + params.maker_count * priority_lamports(params, SWEEP_COMPUTE_UNITS)
    )
    return network, priority


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
    # How the plan moves the pool's price, in millionths of the price now: one buy of the
    # mean size; the highest the plan's net buys take it; where the plan leaves it (before
    # the gather sells what the makers hold); after the gather (what the fees left in the pool).
    price_move_ppm: dict[str, int] = field(default_factory=dict)
    buys: int | None = None
    sells: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def estimate(
    *, params: Params, pool: PoolReserves, plan: PlanConfig, window_seconds: int | None = None
) -> Estimate:
    """What the run of `params` costs on `pool`, from `plan` (the run's planner config, see
    `apps.execution.domain.plan_config`) replayed on the pool's curve up to its target volume
    or the end of its window. Jito tips count the mean tip per trade."""
    mean = mean_trade_lamports(params)
    trade_priority = priority_lamports(params, pool.trade_compute_units)
    tip = 0
    if params.execution_mode == "jito":
        tip = (params.jito_tip_min_lamports + params.jito_tip_max_lamports) // 2
    window = params.duration_seconds or window_seconds
    planned = None
    if params.target_volume_lamports is not None or window:
        planned = replay(plan=plan, pool=pool, window_ms=window * 1000 if window else None)
    n = 0 if planned is None else planned.buys + planned.sells
    impact = 0 if planned is None else planned.impact_lamports
    setup_network, setup_priority = setup_costs(
        params, gather_sells=0 if planned is None else planned.gather_sells, pool=pool
    )
    setup = setup_network + setup_priority
    network, priority, tips = n * LAMPORTS_PER_SIGNATURE, n * trade_priority, n * tip
    total = network + priority + tips + impact + setup
    warnings = _warnings(params=params, planned=planned, fee_per_trade=LAMPORTS_PER_SIGNATURE
                         + trade_priority + tip)  # fmt: skip
    within_budget = None
    if params.budget_cap_lamports is not None and n:
        per_trade = -(-(network + priority + tips + impact) // n)
        within_budget = max(params.budget_cap_lamports - setup, 0) // per_trade
        if within_budget < n:
            warnings.append(GuardrailWarning(
                "params.budget_cap_sol",
                f"The budget cap runs out after about {within_budget} trades "
                f"({format_sol_trimmed(within_budget * mean)} SOL of volume), before the target.",
            ))  # fmt: skip
    per_sol = cents = None
    volume = None if planned is None else planned.volume_lamports
    if volume:
        # The gather closes every token account, so no rent stays behind.
        parts = {"network_fees": network, "priority_fees": priority, "tips": tips,
                 "price_impact": impact, "setup_fees": setup, "rent_not_returned": 0,
                 "total": total}  # fmt: skip
        per_sol = {part: -(-value * LAMPORTS_PER_SOL // volume) for part, value in parts.items()}
        cents = -(-total * 100_000 * 100 // volume)
    return Estimate(
        mean_trade_lamports=mean, trades=None if planned is None else n, volume_lamports=volume,
        fee_per_trade_lamports=LAMPORTS_PER_SIGNATURE + trade_priority,
        tip_per_trade_lamports=tip,
        round_trip_cost_lamports=round_trip_cost(size_lamports=mean, pool=pool),
        network_fees_lamports=network, priority_fees_lamports=priority, tips_lamports=tips,
        price_impact_lamports=impact, setup_fees_lamports=setup, total_cost_lamports=total,
        maker_funding_lamports=params.maker_funding_total_lamports,
        sol_needed_upfront_lamports=sol_needed_upfront(params),
        trades_within_budget=within_budget, warnings=warnings, per_sol_volume_lamports=per_sol,
        cost_per_100k_usd_cents=cents, price_move_ppm=price_moves(pool, mean, planned),
        buys=None if planned is None else planned.buys,
        sells=None if planned is None else planned.sells + planned.gather_sells,
    )  # fmt: skip


def price_moves(pool: PoolReserves, mean: int, planned: PlanReplay | None) -> dict[str, int]:
    """The price moves the estimate shows (see `Estimate.price_move_ppm`)."""
    curve = Curve(pool)
    start = curve.price
    curve.buy(mean)
    moves = {"mean_buy": move_ppm(start, curve.price)}
    if planned is not None:
        moves |= {"plan_peak": planned.peak_move_ppm, "plan_end": planned.plan_end_move_ppm,
                  "after_gather": planned.end_move_ppm}  # fmt: skip
    return moves


def _warnings(
    *, params: Params, planned: PlanReplay | None, fee_per_trade: int
) -> list[GuardrailWarning]:
    warnings = []
    if planned is None:
        warnings.append(GuardrailWarning(
            "params.target_volume_sol",
            "Without a target volume or a window the number of trades cannot be estimated.",
        ))  # fmt: skip
    elif planned.cut_by_window and params.target_volume_lamports is not None:
        warnings.append(GuardrailWarning(
            "params.target_volume_sol",
            f"At this cadence the window ends after about {planned.buys + planned.sells} trades "
            f"({format_sol_trimmed(planned.volume_lamports)} SOL), before the target volume.",
        ))  # fmt: skip
    per_maker = params.trade_size_max_lamports + fee_per_trade + TOKEN_ACCOUNT_RENT_LAMPORTS
    if params.maker_funding_lamports < per_maker:
        warnings.append(GuardrailWarning(
            "params.maker_funding_sol",
            f"Each maker wallet should hold at least {format_sol_trimmed(per_maker)} SOL: the "
            "largest trade, its fees and a token account's rent (returned at the end).",
        ))  # fmt: skip
    return warnings


def cost_per_usd_volume(
    *, cost_per_sol_volume_lamports: int, usd_volume: int, sol_price_usd_cents: int
) -> int:
    """Lamports that `usd_volume` dollars of volume cost at a SOL price (in cents) the user
    gives: the SOL volume it takes, times the cost of each SOL of it (rounded up)."""
    if sol_price_usd_cents <= 0:
        raise ValueError("the SOL price must be positive")
    return -(-cost_per_sol_volume_lamports * usd_volume * 100 // sol_price_usd_cents)
