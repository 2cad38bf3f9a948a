"""Operator actions against real runs: real Celery workers, the real broker, Postgres and the
localnet (the run-engine fixtures of tests/execution, re-exported by this folder's conftest)."""

import time

import pytest
from django.db.models import Max
from prometheus_client.parser import text_string_to_metric_families

from apps.admin_ops import services
from apps.campaigns.models import Campaign, CampaignRun
from apps.campaigns.services import campaign_start
from apps.core.locking import JOB_LOCK
from apps.core.models import PAUSE_ALL_REASON
from apps.execution.models import Execution, Job
from tests.support.campaigns import Setup
from tests.support.engine import held_by_another_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW_S = 1.0  # EXECUTION_PLAN_WINDOW_MS of the `chain` fixture
TRADES = ["trade_buy", "trade_sell"]


def start(owner: Setup, **params) -> CampaignRun:
    campaign = owner.campaign(**params)
    campaign_start(campaign_id=campaign.pk, actor=owner.user)
    return CampaignRun.objects.get(campaign=campaign)


def landed(run: CampaignRun) -> int:
    return Execution.objects.filter(run=run, side__in=["buy", "sell"], status="landed").count()


def test_pause_all_stops_every_run_within_a_window_and_resume_all_restarts_them(
    setup, chain, workers, bob, carol, client, settings
):
    runs = [
        start(setup, target_volume_sol="0.35"),
        start(Setup(bob, chain.cluster), target_volume_sol="0.35"),
    ]
    for run in runs:
        wait_for(lambda run=run: landed(run) >= 2, timeout=60, what="two trades per run")

    services.pause_all_set(enabled=True, actor=carol, message="incident")
    switched_at = time.monotonic()
    for run in runs:
        wait_for(
            lambda run=run: Campaign.objects.get(pk=run.campaign_id).status == "paused",
            timeout=10, what="the planner to pause the run",
        )  # fmt: skip
    # Each planner paused its run at its next window (plus the time to notice).
    assert time.monotonic() - switched_at <= 2 * WINDOW_S + 1
    for run in runs:
        run.refresh_from_db()
        assert (run.status, run.status_reason) == ("paused", PAUSE_ALL_REASON)
    # Trades of the window in progress may finish; after that nothing trades.
    time.sleep(WINDOW_S + 0.5)
    before = {run.pk: Execution.objects.filter(run=run).count() for run in runs}
    time.sleep(2 * WINDOW_S)
    assert {run.pk: Execution.objects.filter(run=run).count() for run in runs} == before
    assert not Job.objects.filter(run__in=runs, type__in=TRADES, status__in=Job.LIVE).exists()
    last_trade = Execution.objects.filter(run__in=runs).aggregate(at=Max("created_at"))["at"]

    services.pause_all_set(enabled=False, actor=carol)
    for run in runs:
        assert Campaign.objects.get(pk=run.campaign_id).status == "active"
    for run in runs:
        wait_for(
            lambda run=run: Execution.objects.filter(run=run, created_at__gt=last_trade).exists(),
            timeout=30, what="trades after resume-all",
        )  # fmt: skip

    # The scrape after this short run has non-zero task, job, trade and RPC series.
    settings.METRICS_TOKEN = "t"
    text = client.get("/metrics", headers={"Authorization": "Bearer t"}).content.decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    # Trades run as their own `execution.trade` task or as a batch (`execution.trades`).
    trade_tasks = [
        value for (name, labels), value in samples.items()
        if name == "volumebot_tasks_total"
        and dict(labels)["task"] in ("execution.trade", "execution.trades")
        and (dict(labels)["queue"], dict(labels)["state"]) == ("trade.buy", "success")
    ]  # fmt: skip
    assert trade_tasks and sum(trade_tasks) > 0
    sends = [
        value for (name, labels), value in samples.items()
        if name == "volumebot_rpc_calls_total"
        and dict(labels)["method"] in ("sendTransaction", "send_transaction")
        and dict(labels)["outcome"] == "ok"
    ]  # fmt: skip
    assert sends and sum(sends) > 0, sorted({n for n, _ in samples if "rpc" in n})
    jobs = (("outcome", "succeeded"), ("queue", "trade.buy"), ("type", "trade_buy"))
    assert samples[("volumebot_jobs_total", jobs)] > 0
    assert samples[("volumebot_trades_total", (("outcome", "landed"), ("side", "buy")))] > 0
    assert samples[("volumebot_trade_volume_lamports_total", (("side", "buy"),))] > 0


def test_a_redriven_trade_job_lands_at_most_once(setup, workers, carol):
    run = start(setup, target_volume_sol="0.3")
    # A job with a landed transaction (a sell planned before its maker's buy landed succeeds
    # with nothing sent: "nothing to sell").
    landed_trades = Job.objects.filter(
        run=run, type__in=TRADES, status="succeeded", executions__status="landed"
    )
    job = wait_for(landed_trades.first, timeout=60, what="one landed trade")
    signatures = list(job.executions.order_by("pk").values_list("signature", "status"))
    # As if its worker had given up after the transaction landed (confirmation never came).
    Job.objects.filter(pk=job.pk).update(status="dead", error={"code": "transient_exhausted"})

    # The worker that finished it still holds its lock when the re-drive comes (its last
    # statements): the re-driven task must come back for the job, not drop it.
    with held_by_another_worker(JOB_LOCK, job.pk):
        redriven = services.jobs_redrive(job_ids=[job.pk], actor=carol)
        again = services.jobs_redrive(job_ids=[job.pk], actor=carol)
        assert (redriven, again) == ([job.pk], [])
        time.sleep(1)
        assert Job.objects.get(pk=job.pk).status == "queued"
    wait_for(
        lambda: Job.objects.get(pk=job.pk).status in Job.TERMINAL, timeout=30,
        what="the re-driven job to finish",
    )  # fmt: skip

    job.refresh_from_db()
    assert job.status in ("succeeded", "cancelled"), (job.status, job.error, job.result)
    assert list(job.executions.order_by("pk").values_list("signature", "status")) == signatures
    assert job.executions.filter(status="landed").count() == 1
