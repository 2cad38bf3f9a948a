"""Crash safety: worker processes are SIGKILLed again and again while two campaigns run (so
batches carry both runs' trades). Afterwards no job has two landed transactions, every job is
terminal (no planned trade lost), and the ledger equals the chain to the lamport.

The workers are real subprocesses (`celery worker`, threads pool) on the test database; the
test plays beat by calling `jobs_redrive_stuck`, which re-sends the tasks of jobs whose worker
died (their advisory lock is gone with the process's connection)."""

import signal
import time

import pytest
from django.db.models import Count, Q, Sum

from apps.campaigns.models import Campaign
from apps.execution.models import Job, LedgerEntry
from apps.execution.monitor import jobs_redrive_stuck
from apps.wallets.models import Wallet
from tests.workers import worker_process

pytestmark = pytest.mark.django_db(transaction=True)


def test_killed_workers_never_land_a_job_twice_nor_lose_one(setup, chain):
    # Two campaigns at once, so batches also carry the other run's trades (cross-run batches).
    campaigns = [
        setup.campaign(target_volume_sol="1.2", maker_funding_sol="0.3", seed=seed)
        for seed in (11, 12)
    ]
    funding_before = setup.lamports(setup.wallet.address)
    workers = [worker_process(chain.url), worker_process(chain.url)]
    kills = redriven = 0
    try:
        runs = [setup.start(campaign) for campaign in campaigns]
        # A hang guard, not a speed test: it fails only when no job has finished for 120 s
        # (a loaded machine makes the runs slower, never stuck).
        finished, deadline = -1, 0.0
        next_kill = time.monotonic() + 3
        while Campaign.objects.filter(
            pk__in=[c.pk for c in campaigns], status__in=("completed", "failed")
        ).count() < len(campaigns):
            now_finished = Job.objects.filter(run__in=runs).exclude(status__in=Job.LIVE).count()
            if now_finished != finished:
                finished, deadline = now_finished, time.monotonic() + 120
            assert time.monotonic() < deadline, list(
                Job.objects.filter(run__in=runs, status__in=Job.LIVE).values(
                    "idempotency_key", "status"
                )
            )
            if kills < 5 and time.monotonic() >= next_kill:
                victim = workers.pop(0)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                workers.append(worker_process(chain.url))
                next_kill = time.monotonic() + 1.5
            redriven += jobs_redrive_stuck(older_than_s=1.5)  # what beat does every few seconds
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()

    assert kills == 5, "the runs ended before the workers were killed 5 times"
    assert redriven > 0  # the kills did lose task messages, and the engine recovered them

    # Ledger = chain, to the lamport, for every wallet.
    def ledger(wallet, runs) -> int:
        total = LedgerEntry.objects.filter(run__in=runs, wallet=wallet).aggregate(
            t=Sum("lamports_delta")
        )
        return total["t"] or 0

    spent = 0
    for campaign, run in zip(campaigns, runs, strict=True):
        campaign.refresh_from_db()
        run.refresh_from_db()
        assert campaign.status == "completed", campaign.status_reason
        # Every job is terminal: nothing planned was lost.
        assert not Job.objects.filter(run=run, status__in=Job.LIVE).exists()
        assert not Job.objects.filter(run=run, status="dead").exists()
        # No job has two landed transactions.
        landed = Job.objects.filter(run=run).annotate(
            landed=Count("executions", filter=Q(executions__slot__isnull=False))
        )
        assert max(landed.values_list("landed", flat=True)) == 1
        for maker in Wallet.objects.filter(run_id=run.pk):
            assert setup.lamports(maker.address) == 0 == ledger(maker, [run])
            assert setup.token_accounts(maker.address) == []
        spent += run.fees_lamports + run.price_impact_lamports
    funding_after = setup.lamports(setup.wallet.address)
    assert funding_after - funding_before == ledger(setup.wallet, runs)
    assert funding_before - funding_after == spent
