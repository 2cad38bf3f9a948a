"""Pure engine rules: params → planner config, batching, backoff, buy sizes, the breaker."""

import random

from apps.campaigns.domain import Params
from apps.campaigns.params import params_from_input
from apps.execution import domain
from apps.execution.planner import Distribution, Pattern
from tests.support.campaigns import ENGINE_PARAMS as PARAMS


def params(**changes) -> Params:
    return Params.from_json(params_from_input({**PARAMS, **changes}))


def test_it_maps_campaign_params_to_the_planner():
    config = domain.plan_config(
        params=params(hold_min_seconds="1", hold_max_seconds="2"), seed=5, busy_ms=3_000
    )

    assert (config.seed, config.wallets, config.min_lamports, config.max_lamports) == (
        5, 3, 10_000_000, 30_000_000,
    )  # fmt: skip
    assert (config.min_delay_ms, config.max_delay_ms, config.trades_per_minute) == (100, 300, None)
    assert (config.buy_percent, config.hold_ms, config.concurrency_cap) == (60, 1_000, 3)
    assert (config.distribution, config.pattern) == (Distribution.UNIFORM, Pattern.STEADY)


def test_it_maps_a_rate_cadence_and_a_busy_time():
    config = domain.plan_config(
        params=params(cadence="rate", trades_per_minute=30, pattern="burst"), seed=1, busy_ms=200
    )

    assert (config.min_delay_ms, config.max_delay_ms, config.trades_per_minute) == (None, None, 30)
    assert (config.pattern, config.busy_ms) == (Pattern.BURST, 200)


def test_it_packs_items_into_the_fewest_groups_within_the_limit():
    # Each group's "size" is 10 per item plus 5 of overhead: 4 items fit in 45.
    def size(group):
        return 5 + 10 * len(group)

    assert domain.packed(list(range(10)), size=size, limit=45) == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9],
    ]  # fmt: skip
    assert domain.packed([], size=size, limit=45) == []
    # An item too large even alone is a group of its own, never dropped.
    assert domain.packed([1, 2], size=size, limit=10) == [[1], [2]]
    assert domain.transfer_compute_units(10) == 300 + 1_500 + 1_000


def test_it_backs_off_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    for attempt, base in ((1, 1), (2, 2), (3, 4), (7, 60), (20, 60)):
        value = domain.backoff_seconds(attempt=attempt, rng=rng)
        assert 0.5 * base <= value <= 1.5 * base


def test_it_sizes_a_buy_within_the_makers_balance_and_reserve():
    reserve = domain.MAKER_RESERVE_LAMPORTS
    assert domain.buy_amount(planned=10, available=reserve + 100, minimum=5) == 10
    assert domain.buy_amount(planned=500, available=reserve + 100, minimum=5) == 100
    assert domain.buy_amount(planned=500, available=reserve + 4, minimum=5) == 0
    # A last buy the planner sized under the minimum (to meet the target) goes as planned...
    assert domain.buy_amount(planned=3, available=reserve + 100, minimum=5) == 3
    # ...but never smaller than planned.
    assert domain.buy_amount(planned=3, available=reserve + 2, minimum=5) == 0


def test_the_breaker_trips_on_consecutive_failures_or_a_failure_rate():
    assert domain.breaker_tripped([False] * 4 + [True]) is None
    assert domain.breaker_tripped([False] * 5) == "Circuit breaker: the last 5 trades failed."
    mixed = [True, False] * 5 + [False] * 10  # 15 of 20 failed, never 5 in a row at the top
    assert domain.breaker_tripped(mixed) == (
        "Circuit breaker: 15 of the last 20 trades failed (over 50 %)."
    )
    assert domain.breaker_tripped([True, False] * 10) is None  # exactly 50 %
