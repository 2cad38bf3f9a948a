"""Fair share of a network's request budget: weighted max-min between runs, a per-user cap an
admin sets, and the planner planning within its run's share."""

from datetime import timedelta

import pytest

from apps.campaigns.models import CampaignRun
from apps.execution.fairshare import Demand, demand_per_s, fair_shares
from apps.execution.models import Job
from apps.execution.planner import PlanConfig
from apps.execution.runner import job_execute
from tests.support.campaigns import Setup
from tests.support.engine import drain


def test_a_small_run_gets_all_it_asks_and_a_large_one_the_rest():
    shares = fair_shares(
        [Demand(1, 10, 100.0), Demand(2, 20, 0.5)], capacity_per_s=10, user_caps_per_s={}
    )
    assert shares == {2: 0.5, 1: 9.5}


def test_runs_over_their_share_split_what_is_left_by_weight():
    shares = fair_shares(
        [Demand(1, 10, 50.0, weight=1), Demand(2, 20, 50.0, weight=3), Demand(3, 30, 1.0)],
        capacity_per_s=9, user_caps_per_s={},
    )  # fmt: skip
    assert shares == {3: 1.0, 1: 2.0, 2: 6.0}


def test_a_users_cap_bounds_all_its_runs_together_and_frees_the_rest_for_others():
    shares = fair_shares(
        [Demand(1, 10, 5.0), Demand(2, 10, 5.0), Demand(3, 20, 50.0)],
        capacity_per_s=20, user_caps_per_s={10: 2.0},
    )  # fmt: skip
    assert shares == {1: 1.0, 2: 1.0, 3: 18.0}


def test_a_runs_demand_is_its_cadence_within_its_concurrency():
    def plan(**kw):
        base = dict(seed=1, wallets=3, min_lamports=1, max_lamports=2, busy_ms=300)
        return PlanConfig(**{**base, **kw})

    assert demand_per_s(plan(min_delay_ms=1_000, max_delay_ms=3_000)) == 0.5
    assert demand_per_s(plan(trades_per_minute=30.0, min_delay_ms=None)) == 0.5
    assert demand_per_s(plan(min_delay_ms=0, max_delay_ms=50, concurrency_cap=6)) == 20.0


@pytest.mark.django_db(transaction=True)
def test_a_large_campaign_cannot_starve_a_small_ones_planner_windows(setup, bob, settings):
    # 30 requests/s at 6 a trade: the network carries 5 trades/s.
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": "all=30"}
    settings.EXECUTION_REQUESTS_PER_TRADE = 6
    large = setup.campaign(
        maker_count=6, concurrency_cap=6, delay_min_seconds="0", delay_max_seconds="0.05",
        maker_funding_sol="0.05", target_volume_sol="100",
    )  # fmt: skip
    small_setup = Setup(bob, setup.cluster)
    small = small_setup.campaign(delay_min_seconds="1", delay_max_seconds="3")
    large_run, small_run = setup.start(large), small_setup.start(small)
    for run in (large_run, small_run):
        drain(run, types=("distribute", "preflight"))

    def plan(run, window: int) -> tuple[int, dict]:
        job = Job.objects.get(run=run, type="plan", window=window)
        job_execute(job_id=job.pk)
        assert Job.objects.get(pk=job.pk).status == "succeeded"
        trades = Job.objects.filter(run=run, type__in=Job.TRADE_TYPES).count()
        return trades, CampaignRun.objects.get(pk=run.pk).summary

    plan(large_run, 0)  # alone on the network so far
    small_trades, small_summary = plan(small_run, 0)
    large_before = Job.objects.filter(run=large_run, type__in=Job.TRADE_TYPES).count()
    carried = CampaignRun.objects.get(pk=large_run.pk).summary["share_credit"]
    large_trades, large_summary = plan(large_run, 1)

    # The small run asks 0.5 trades/s and gets all of it: its first trade is planned at once.
    assert small_summary["share_trades_per_minute"] == 30.0
    assert small_summary["budget_slowed"] is False
    assert small_trades == 1
    # The large one asks 20/s and gets the rest, 4.5/s: it plans that much and slows down.
    assert large_summary["share_trades_per_minute"] == 270.0
    assert large_summary["budget_slowed"] is True
    assert large_trades - large_before == int(4.5 + carried)


def test_a_thousand_runs_over_their_share_each_get_an_equal_share_of_the_capacity():
    demands = [Demand(run, user_id=run % 997, trades_per_s=1.0) for run in range(1_000)]
    demands.append(Demand(1_000, user_id=5_000, trades_per_s=0.01))  # asks for less: gets it

    shares = fair_shares(demands, capacity_per_s=50.0, user_caps_per_s={})

    assert shares[1_000] == 0.01
    assert {round(shares[run], 9) for run in range(1_000)} == {round(49.99 / 1_000, 9)}
    assert sum(shares.values()) == pytest.approx(50.0)


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_share_is_under_a_trade_a_window_plans_when_its_credit_makes_one(
    setup, settings
):
    # 1.2 requests/s at 6 a trade: 0.2 trades/s, a trade every five 1-second windows.
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": "all=1.2"}
    settings.EXECUTION_REQUESTS_PER_TRADE = 6
    campaign = setup.campaign(delay_min_seconds="0", delay_max_seconds="0.05")
    run = setup.start(campaign)
    drain(run, types=("distribute", "preflight"))

    planned, gaps = [], []
    for window in range(4):
        job = Job.objects.get(run=run, type="plan", window=window)
        before = Job.objects.filter(run=run, type__in=Job.TRADE_TYPES).count()
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == "succeeded"
        planned.append(Job.objects.filter(run=run, type__in=Job.TRADE_TYPES).count() - before)
        summary = CampaignRun.objects.get(pk=run.pk).summary
        assert summary["budget_slowed"] is True
        gap = timedelta(milliseconds=summary["share_gap_ms"])
        following = Job.objects.get(run=run, type="plan", window=window + 1)
        # The next window is due when the credit makes a whole trade, not a window later.
        # (The window's clock is read after the claim, to the millisecond.)
        earliest = job.started_at + gap - timedelta(milliseconds=1)
        assert earliest <= following.scheduled_for <= job.finished_at + gap
        gaps.append(summary["share_gap_ms"])

    # One trade a window (the first from the credit a run starts with), and the windows come
    # as often as the share pays for a trade: 4 s after the first (0.2 left), then 5 s.
    assert planned == [1, 1, 1, 1]
    assert 4_000 <= gaps[0] <= 4_003
    assert all(4_995 <= gap <= 5_002 for gap in gaps[1:])
