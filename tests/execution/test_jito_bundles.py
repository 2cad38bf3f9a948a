"""A Jito run's trades as bundles of up to 4 swaps with one tip, driven synchronously against
the real localnet and its block engine: all land or none, the tip shared in the ledger to
the lamport, a failed bundle retried trade by trade."""

import pytest
from django.db.models import Sum
from solders.pubkey import Pubkey

from apps.chain.constants import JITO_TIP_ACCOUNTS
from apps.execution.domain import tip_shares
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.runner import job_execute
from apps.execution.steps.batch import trades_execute
from apps.wallets.models import Wallet
from tests.execution.test_batches import ledger_lamports, planned_run

pytestmark = pytest.mark.django_db(transaction=True)

JITO = {
    "execution_mode": "jito", "jito_tip_min_lamports": 1_000, "jito_tip_max_lamports": 5_000,
    "jito_region": "mainnet", "maker_count": 4, "concurrency_cap": 4, "buy_percent": 100,
    "delay_min_seconds": "0.05", "delay_max_seconds": "0.1",
}  # fmt: skip


def tips_received(setup) -> int:
    return sum(setup.cluster.get_balance(Pubkey.from_string(str(a))) for a in JITO_TIP_ACCOUNTS)


def test_tip_shares_add_up_to_the_tip_the_remainder_first():
    assert tip_shares(4_003, 4) == [1_001, 1_001, 1_001, 1_000]
    assert tip_shares(1_000, 3) == [334, 333, 333]
    assert tip_shares(2_000, 1) == [2_000]
    for tip in range(1_000, 1_050):
        for count in range(1, 5):
            shares = tip_shares(tip, count)
            assert sum(shares) == tip and max(shares) - min(shares) <= 1


def test_four_trades_land_as_one_bundle_with_one_tip_shared_in_the_ledger(setup):
    run, buys = planned_run(setup, **JITO)
    assert len(buys) == 4
    tips_before = tips_received(setup)

    trades_execute(job_ids=[job.pk for job in buys])

    executions = list(Execution.objects.filter(job__in=buys).order_by("pk"))
    assert [job.status for job in Job.objects.filter(pk__in=[j.pk for j in buys])] == [
        "succeeded"
    ] * 4
    assert {e.status for e in executions} == {"landed"} and len(executions) == 4
    # One bundle, one slot, one tip paid on chain.
    assert len({e.bundle_id for e in executions}) == 1 and executions[0].bundle_id
    assert len({e.slot for e in executions}) == 1
    assert setup.cluster.bundle(executions[0].bundle_id).landed
    tip = tips_received(setup) - tips_before
    assert 1_000 <= tip <= 5_000
    # The ledger shares it between the 4 trades, in whole lamports, and adds up to it.
    rows = LedgerEntry.objects.filter(execution__in=executions, kind="tip")
    assert rows.count() == 4 and -rows.aggregate(t=Sum("lamports_delta"))["t"] == tip
    assert sorted(e.tip_lamports for e in executions) == sorted(tip_shares(tip, 4))
    assert len({row.wallet_id for row in rows}) == 1  # on the wallet that paid it
    run.refresh_from_db()
    assert run.tips_lamports == tip and run.trades_succeeded == 4
    # Ledger = chain for every maker, to the lamport.
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert ledger_lamports(run, maker.pk) == setup.lamports(maker.address)


def test_a_bundle_with_a_failing_trade_lands_nothing_and_each_trade_is_retried(setup):
    # 0.05 SOL buys with a 0.01 % slippage: each is fine alone, but in one bundle the first
    # moves the price past what the second accepts, so the second fails inside the bundle.
    run, buys = planned_run(
        setup, **JITO, slippage_bps=1, trade_size_min_sol="0.05", trade_size_max_sol="0.05"
    )
    makers = Wallet.objects.filter(run_id=run.pk)
    before = {m.address: setup.lamports(m.address) for m in makers}
    tips_before = tips_received(setup)

    trades_execute(job_ids=[job.pk for job in buys])

    # Nothing landed: no lamport moved, no tip paid, no ledger row beyond the funding.
    failed = list(Execution.objects.filter(job__in=buys))
    assert len(failed) == len(buys) >= 2 and {e.status for e in failed} == {"failed"}
    assert len({e.bundle_id for e in failed}) == 1
    assert setup.cluster.bundle(failed[0].bundle_id).landed is False
    assert {m.address: setup.lamports(m.address) for m in makers} == before
    assert tips_received(setup) == tips_before
    assert not LedgerEntry.objects.filter(execution__in=failed).exists()
    # Each trade is back in the queue, one attempt counted, for its own task.
    for job in Job.objects.filter(pk__in=[j.pk for j in buys]):
        assert (job.status, job.attempts) == ("queued", 1)

    for job in buys:
        job_execute(job_id=job.pk)

    # Alone, each quotes the price of its moment and lands, with a tip of its own.
    for job in Job.objects.filter(pk__in=[j.pk for j in buys]):
        assert job.status == "succeeded", job.error
        landed = job.executions.get(status="landed")
        assert landed.attempt == 2 and landed.bundle_id and landed.tip_lamports >= 1_000
    run.refresh_from_db()
    tips = LedgerEntry.objects.filter(run=run, kind="tip").aggregate(t=Sum("lamports_delta"))
    assert -tips["t"] == run.tips_lamports == tips_received(setup) - tips_before
    for maker in makers:
        assert ledger_lamports(run, maker.pk) == setup.lamports(maker.address)
