"""A run's life as the engine sees it: begin, resume, stop; when a run must stop or pause.

`run_engine_start/resume/stop` are called by `apps.campaigns.services` after (in the same
transaction as) the campaign's transition. The engine itself moves a campaign only through
`apps.campaigns.transitions`, which never calls back into the engine: a reached target or
budget, a failed funding or pre-flight stop the run (`run_stop`: the transition to stopping,
then the gather job); the circuit breaker pauses it and raises an alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.admin_ops.alerts import alert_raise
from apps.admin_ops.models import Alert
from apps.campaigns.domain import Action, Params
from apps.campaigns.models import CampaignRun, RunStatus
from apps.campaigns.transitions import campaign_pause, campaign_transition
from apps.execution import domain
from apps.execution.jobs import job_create
from apps.execution.models import Job
from apps.execution.planner import PlanConfig, PlanState


def run_engine_start(*, run_id: int) -> Job:
    """Begin a run: its distribute job (idempotent: a second call returns the same job)."""
    with transaction.atomic():
        job, _ = job_create(run_id=run_id, type=Job.Type.DISTRIBUTE, sequence=0)
    return job


def run_engine_resume(*, run_id: int) -> Job | None:
    """Continue a resumed run: re-anchor the planner clock to now and plan the next window.
    The same maker wallets go on trading from the planner's saved state."""
    with transaction.atomic():
        # Row lock: the summary (plan state) is read-modify-written.
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        plan = run.summary.get("plan")
        if run.status != RunStatus.RUNNING or plan is None:
            return None
        state = PlanState.from_json(plan)
        now_ms = int(timezone.now().timestamp() * 1000)
        run.summary["plan_epoch_ms"] = now_ms - state.clock_ms
        # The circuit breaker judges only trades made since the resume.
        run.summary["breaker_since"] = timezone.now().isoformat()
        window = run.summary.get("plan_window", 0) + 1
        run.summary["plan_window"] = window
        run.save(update_fields=["summary", "updated_at"])
        job, _ = job_create(run_id=run_id, type=Job.Type.PLAN, sequence=window, window=window)
    return job


def run_engine_stop(*, run_id: int) -> Job:
    """Gather a stopping run's funds (idempotent)."""
    with transaction.atomic():
        job, _ = job_create(run_id=run_id, type=Job.Type.FUNDS_GATHER, sequence=0)
    return job


def run_stop(run: CampaignRun, *, reason: str, completed: bool) -> None:
    """The engine stops a run (`completed`: it reached its target): the campaign moves to
    stopping and the gather job is created, in one transaction."""
    with transaction.atomic():
        # Row lock: the stop reason lives in the summary, read-modify-written.
        locked = CampaignRun.objects.select_for_update().get(pk=run.pk)
        locked.summary["completed"] = completed
        locked.save(update_fields=["summary", "updated_at"])
    with transaction.atomic():
        campaign_transition(
            campaign_id=run.campaign_id, action=Action.STOP, actor=None, reason=reason
        )
        run_engine_stop(run_id=run.pk)


def summary_update(run_id: int, **values: Any) -> None:
    # Row lock: the summary JSON is read-modify-written by several jobs.
    run = CampaignRun.objects.select_for_update().get(pk=run_id)
    run.summary.update(values)
    run.save(update_fields=["summary", "updated_at"])


def summary_update_atomic(run_id: int, **values: Any) -> None:
    with transaction.atomic():
        summary_update(run_id, **values)


def plan_config(*, params: Params, seed: int, sell_only: bool = False) -> PlanConfig:
    return domain.plan_config(
        params=params, seed=seed, busy_ms=settings.EXECUTION_BUSY_MS, sell_only=sell_only
    )


def stop_reason(run: CampaignRun, params: Params) -> str | None:
    if params.target_volume_lamports and run.volume_lamports >= params.target_volume_lamports:
        return "Target volume reached."
    if params.budget_cap_lamports and run.spent_lamports >= params.budget_cap_lamports:
        return "Budget cap reached."
    return None


def stop_if_done(run_id: int) -> None:
    """After each trade: a reached target or budget stops the run at once, not at the next
    planner window (the stop is idempotent, so concurrent trades may all ask)."""
    run = CampaignRun.objects.select_related("campaign").get(pk=run_id)
    stop_when_reached([run], params={run.pk: Params.from_json(run.campaign.params)})


def stop_when_reached(runs: list[CampaignRun], *, params: dict[int, Params]) -> None:
    """`stop_if_done` for runs whose status and totals (`RUN_TOTALS`) are known already
    (`params` by run id)."""
    for run in runs:
        reason = run.status == RunStatus.RUNNING and stop_reason(run, params[run.pk])
        if reason:
            run_stop(run, reason=reason, completed=True)


def circuit_breaker(job: Job) -> None:
    since = (
        CampaignRun.objects.values_list("summary", flat=True)
        .get(pk=job.run_id)
        .get("breaker_since")
    )
    jobs = Job.objects.filter(
        run_id=job.run_id, type__in=Job.TRADE_TYPES,
        status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED],
    )  # fmt: skip
    if since:
        jobs = jobs.filter(finished_at__gte=datetime.fromisoformat(since))
    outcomes = [
        status == Job.Status.SUCCEEDED
        for status in jobs.exclude(result__has_key="skipped")
        .order_by("-finished_at", "-id")
        .values_list("status", flat=True)[: domain.BREAKER_WINDOW]
    ]  # fmt: skip
    reason = domain.breaker_tripped(outcomes)
    if reason:
        run = job.run
        summary_update_atomic(run.pk, breaker=reason)
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
        campaign = run.campaign
        alert_raise(
            kind=Alert.Kind.CIRCUIT_BREAKER, user=campaign.owner, campaign=campaign, message=reason
        )
