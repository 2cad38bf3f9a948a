"""The cost estimate of a campaign (pure: no ORM, no settings): the run's own plan replayed on
the pool's curve as it is now (`apps.campaigns.plan_replay`), and every transaction the run
sends priced: network fees count the signatures of the trades, the distribution batches and
the gather's sells and sweeps; priority fees their compute-unit limits; Jito tips the mean tip
per trade; the price impact (venue fees included) is what the replay leaves in the pool.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from apps.campaigns.domain import (
    DISTRIBUTE_TRANSFERS_PER_TX,
    LAMPORTS_PER_SIGNATURE,
    GuardrailWarning,
    Params,
    sol_needed_upfront,
)
from apps.campaigns.plan_replay import (
    TOKEN_ACCOUNT_RENT_LAMPORTS,
    Curve,
    Makers,
    PlanReplay,
    PoolReserves,
    move_ppm,
    replay,
    round_trip_cost,
)
from apps.core.amounts import LAMPORTS_PER_SOL, format_sol_trimmed
from apps.execution.planner import PlanConfig

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
# The gather's sweep (close the token accounts, send every lamport back) sets this limit per
# maker it empties.
SWEEP_COMPUTE_UNITS = 20_000
# A sweep transaction empties as many makers as fit in a packet: 6 makers that traded (a token
# account's close and a transfer each, with the maker's signature); the funding wallet signs
# it too and pays its fee (tests/execution/test_makers.py checks the engine packs this many).
SWEEP_MAKERS_PER_TX = 6
# A distribution batch's limit: the compute-budget instructions, one transfer each, a margin
# (`apps.execution.domain.transfer_compute_units`).
DISTRIBUTE_BASE_CU, DISTRIBUTE_TRANSFER_CU = 1_300, 150
# The gather's sell is signed by the maker and by the funding wallet (it pays the fee, so the
# maker can be emptied to 0 lamports).
GATHER_TX_SIGNATURES = 2


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
    sweeps = -(-params.maker_count // SWEEP_MAKERS_PER_TX)
    signatures = batches + gather_sells * GATHER_TX_SIGNATURES + params.maker_count + sweeps
    network = signatures * LAMPORTS_PER_SIGNATURE
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
        makers = Makers(params=params, per_trade=LAMPORTS_PER_SIGNATURE + trade_priority + tip)
        planned = replay(
            plan=plan, pool=pool, window_ms=window * 1000 if window else None, makers=makers
        )
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
