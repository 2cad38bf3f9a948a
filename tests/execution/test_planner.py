import json
import math
import statistics

import pytest

from apps.execution.planner import (
    BURST_OFF_MS,
    BURST_ON_MS,
    Distribution,
    Pattern,
    PlanConfig,
    PlanState,
    Side,
    next_trade,
    plan_done,
    plan_window,
    sold_out,
)

SOL = 1_000_000_000


def config(**overrides) -> PlanConfig:
    values = dict(
        seed=42,
        wallets=5,
        min_lamports=SOL // 100,
        max_lamports=SOL // 10,
        min_delay_ms=1_000,
        max_delay_ms=4_000,
        buy_percent=60,
        hold_ms=5_000,
        concurrency_cap=3,
        busy_ms=2_000,
    )
    values.update(overrides)
    return PlanConfig(**values)


def run(plan: PlanConfig, count: int) -> list:
    state = PlanState.start(plan)
    return [next_trade(plan, state) for _ in range(count)]


def test_it_replays_the_same_trades_for_the_same_seed():
    assert run(config(), 300) == run(config(), 300)
    assert run(config(), 300) != run(config(seed=43), 300)


def test_it_resumes_from_a_saved_state_exactly():
    plan = config(pattern=Pattern.ORGANIC)
    straight = run(plan, 400)

    state, windowed = PlanState.start(plan), []
    horizon = 0
    while len(windowed) < 400:
        horizon += 7_000
        trades, state = plan_window(plan, state, until_ms=horizon)
        windowed += trades
        state = PlanState.from_json(json.loads(json.dumps(state.to_json())))

    assert windowed[:400] == straight


def test_it_keeps_one_trade_in_flight_per_wallet_and_respects_the_cap():
    plan = config(wallets=4, concurrency_cap=2, busy_ms=3_000, min_delay_ms=0, max_delay_ms=500)
    trades = run(plan, 1_000)

    last_at: dict[int, int] = {}
    for trade in trades:
        if trade.wallet in last_at:
            assert trade.at_ms - last_at[trade.wallet] >= plan.busy_ms
        last_at[trade.wallet] = trade.at_ms
    for trade in trades:
        overlapping = [t for t in trades if t.at_ms <= trade.at_ms < t.at_ms + plan.busy_ms]
        assert len(overlapping) <= plan.concurrency_cap


def test_it_sells_only_held_tokens_after_the_hold_time():
    plan = config(hold_ms=20_000)
    bought_at: dict[int, int] = {}

    for trade in run(plan, 2_000):
        if trade.side == Side.BUY:
            bought_at[trade.wallet] = trade.at_ms
            assert plan.min_lamports <= trade.lamports <= plan.max_lamports
        else:
            assert trade.wallet in bought_at
            assert trade.at_ms - bought_at.pop(trade.wallet) >= plan.hold_ms
            assert trade.lamports == 0


def test_it_draws_uniform_sizes_around_the_midpoint():
    plan = config(min_lamports=1_000, max_lamports=3_000, buy_percent=100)
    sizes = [t.lamports for t in run(plan, 3_000)]

    assert min(sizes) >= 1_000
    assert max(sizes) <= 3_000
    assert abs(statistics.mean(sizes) - 2_000) < 50


def test_it_draws_log_normal_sizes_around_the_geometric_mean():
    plan = config(
        min_lamports=1_000,
        max_lamports=100_000,
        distribution=Distribution.LOGNORMAL,
        buy_percent=100,
    )
    sizes = [t.lamports for t in run(plan, 3_000)]

    assert min(sizes) >= 1_000
    assert max(sizes) <= 100_000
    assert abs(statistics.median(sizes) - 10_000) < 1_000  # geometric mean of 1e3 and 1e5


def test_it_follows_a_trades_per_minute_target():
    plan = config(trades_per_minute=30, min_delay_ms=None, max_delay_ms=None, concurrency_cap=50,
                  wallets=50, busy_ms=100)  # fmt: skip
    trades = run(plan, 3_000)

    per_minute = len(trades) / (trades[-1].at_ms / 60_000)
    assert math.isclose(per_minute, 30, rel_tol=0.08)


def test_it_mixes_buys_and_sells_as_asked_when_sells_are_possible():
    plan = config(buy_percent=50, hold_ms=0, wallets=10)
    trades = run(plan, 4_000)

    buys = sum(t.side == Side.BUY for t in trades) / len(trades)
    assert 0.45 < buys < 0.6


def test_it_trades_faster_inside_bursts():
    plan = config(pattern=Pattern.BURST, wallets=20, concurrency_cap=20, busy_ms=100)
    trades = run(plan, 3_000)
    cycle = BURST_ON_MS + BURST_OFF_MS

    inside = sum(t.at_ms % cycle < BURST_ON_MS for t in trades) / BURST_ON_MS
    outside = sum(t.at_ms % cycle >= BURST_ON_MS for t in trades) / BURST_OFF_MS
    assert inside > 5 * outside


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"wallets": 0}, "at least one wallet"),
        ({"min_lamports": 10, "max_lamports": 5}, "0 < min <= max"),
        ({"min_delay_ms": 5, "max_delay_ms": 1}, "delay range"),
        ({"buy_percent": 101}, "buy percent"),
        ({"concurrency_cap": 0}, "concurrency cap"),
    ],
)
def test_it_refuses_impossible_plans(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_a_sell_only_plan_sells_what_is_held_then_ends():
    plan = config(buy_percent=100, hold_ms=0)
    state = PlanState.start(plan)
    bought = [next_trade(plan, state) for _ in range(4)]
    assert {t.side for t in bought} == {Side.BUY}
    holders = {t.wallet for t in bought}

    selling = config(buy_percent=100, hold_ms=0, sell_only=True)
    trades, after = plan_window(selling, state, until_ms=10**9)

    # Even at 100 % buys: one sell per holder, nothing else, then the plan is over.
    assert [t.side for t in trades] == [Side.SELL] * len(holders)
    assert {t.wallet for t in trades} == holders
    assert sold_out(after) and not sold_out(state)
    assert next_trade(selling, after) is None


@pytest.mark.parametrize("makers", [1, 10, 100])
@pytest.mark.parametrize("target_sol", [1, 10, 100])
def test_a_capped_plan_stops_on_its_target_with_every_maker_sold_out(makers, target_sol):
    # Trades of 0.01-0.1 SOL; a last buy may go down to 0.001 SOL.
    target = target_sol * SOL
    plan = config(wallets=makers, volume_cap_lamports=target, min_last_lamports=SOL // 1000)

    trades, state = plan_window(plan, PlanState.start(plan), until_ms=10**12)

    buys = [t.lamports for t in trades if t.side == Side.BUY]
    # Every buy is sold again (by a sell or by the gather): the volume is twice the buys.
    assert 2 * sum(buys) == state.planned_lamports == target
    assert all(SOL // 1000 <= lamports <= SOL // 10 for lamports in buys)
    assert sum(lamports < SOL // 100 for lamports in buys) <= 1  # only a last one is small
    assert sold_out(state) and plan_done(plan, state)
    assert next_trade(plan, state) is None
    assert 1 <= sum(t.side == Side.SELL for t in trades) <= len(buys)


def test_a_remainder_under_the_smallest_last_buy_is_left_unplanned():
    plan = config(
        wallets=2, min_lamports=SOL // 10, max_lamports=SOL // 10,
        volume_cap_lamports=SOL + 2, min_last_lamports=SOL // 10,
    )  # fmt: skip

    trades, state = plan_window(plan, PlanState.start(plan), until_ms=10**12)

    assert [t.lamports for t in trades if t.side == Side.BUY] == [SOL // 10] * 5
    assert state.planned_lamports == SOL
    assert plan_done(plan, state)


def test_raising_the_cap_of_a_finished_plan_plans_the_missing_volume():
    plan = config(volume_cap_lamports=SOL, min_last_lamports=SOL // 1000)
    _, done = plan_window(plan, PlanState.start(plan), until_ms=10**12)

    raised = config(volume_cap_lamports=SOL + 7_000_000, min_last_lamports=SOL // 1000)
    more, after = plan_window(raised, done, until_ms=10**12)

    assert [(t.side, t.lamports) for t in more] == [(Side.BUY, 3_500_000), (Side.SELL, 0)]
    assert after.planned_lamports == SOL + 7_000_000


def test_an_uncapped_plan_state_saved_before_the_cap_still_loads():
    saved = PlanState.start(config()).to_json()
    del saved["planned_lamports"]

    assert PlanState.from_json(saved).planned_lamports == 0
