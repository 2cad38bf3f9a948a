"""The run's own plan replayed on a pool's curve (pure: no ORM, no settings), for the cost
estimate (`apps.campaigns.estimate`).

The planner is seeded and the run uses the campaign's seed, so the replay walks the very
trades the run will plan (sizes, buy/sell mix, which maker sells what it holds), skips those
the engine skips (a buy the maker cannot pay, a sell with nothing to sell), tops the plan up
to its target as the engine does, and puts each on the venue's curve: constant product on the
pool's reserves (a pump.fun curve's virtual reserves), the venue fee taken from the input and
kept in the pool (Raydium AMM v4 and CPMM) or taken on the SOL leg and paid out of it
(pump.fun, PumpSwap). What the pool keeps once the gather sold what the makers still hold is
the price impact the run pays, venue fees included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from apps.campaigns.domain import BPS, Params
from apps.execution.domain import buy_amount
from apps.execution.planner import PlanConfig, PlanState, Side, next_trade

# A venue without a measured compute-unit limit: Solana's default of 200k per instruction.
DEFAULT_TRADE_COMPUTE_UNITS = 200_000
# Rent of a 165-byte SPL token account: a maker needs it to hold the token (returned on close).
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280
# Longer plans are replayed this far and scaled to their target or window.
MAX_REPLAYED_TRADES = 2_000


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


class Makers:
    """What each maker holds as the replay goes, to skip the trades the engine skips: a buy
    the maker cannot pay (`apps.execution.domain.buy_amount`), a sell with nothing to sell."""

    def __init__(self, *, params: Params, per_trade: int):
        self.params, self.per_trade = params, per_trade
        self.tokens = [0] * params.maker_count
        self.lamports = [params.maker_funding_lamports] * params.maker_count
        self.has_account = [False] * params.maker_count

    def buy(self, wallet: int, planned: int) -> int:
        """Lamports the buy spends (0: skipped)."""
        amount = buy_amount(planned=planned, available=self.lamports[wallet],
                            minimum=self.params.trade_size_min_lamports)  # fmt: skip
        if amount > 0:
            # The first buy opens the maker's token account (its rent comes back at the end).
            rent = 0 if self.has_account[wallet] else TOKEN_ACCOUNT_RENT_LAMPORTS
            self.lamports[wallet] -= amount + self.per_trade + rent
            self.has_account[wallet] = True
        return amount


def replay(
    *, plan: PlanConfig, pool: PoolReserves, window_ms: int | None, makers: Makers
) -> PlanReplay:
    """The plan's trades (those before `window_ms`) on the pool's curve, topped up to its
    volume cap as the engine does, then the gather's sells of what each maker still holds. A
    plan longer than MAX_REPLAYED_TRADES is replayed that far and scaled to the rest."""
    curve, state, result = Curve(pool), PlanState.start(plan), PlanReplay()
    start, target = curve.price, plan.volume_cap_lamports
    # The highest price yet, as the reserves that made it (compared by cross-multiplying: a
    # Fraction per trade was most of an estimate's time); only a buy raises the price.
    peak = (curve.sol, curve.tokens)
    while not (truncated := state.sequence >= MAX_REPLAYED_TRADES):
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
        if trade.side == Side.BUY and (spent := makers.buy(trade.wallet, trade.lamports)):
            makers.tokens[trade.wallet] += curve.buy(spent)
            result.buys += 1
            result.paid_lamports += spent
            result.volume_lamports += spent
            if curve.sol * peak[1] > peak[0] * curve.tokens:
                peak = (curve.sol, curve.tokens)
        elif trade.side == Side.SELL and makers.tokens[trade.wallet]:
            out = curve.sell(makers.tokens[trade.wallet])
            makers.tokens[trade.wallet] = 0
            makers.lamports[trade.wallet] += out - makers.per_trade
            result.sells += 1
            result.received_lamports += out
            result.volume_lamports += out
    result.peak_move_ppm = move_ppm(start, Fraction(*peak))
    result.plan_end_move_ppm = move_ppm(start, curve.price)
    for tokens in filter(None, makers.tokens):
        out = curve.sell(tokens)
        result.gather_sells += 1
        result.received_lamports += out
        result.volume_lamports += out
    result.end_move_ppm = move_ppm(start, curve.price)
    if not truncated:
        return result
    return _scaled(result, _scale(cap=target, state=state, window_ms=window_ms, replay=result))


def _scale(*, cap: int | None, state: PlanState, window_ms: int | None, replay: PlanReplay):
    """How many times longer than the replayed part the plan is."""
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
