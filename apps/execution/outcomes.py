"""How a job ends: the writes of its outcome, in one transaction under the job's row lock.

A compare-and-swap on the job's status (exactly one writer records a job's outcome, so a replay
after a crash writes nothing twice), then the step's own writes (`Done.write`: ledger rows,
counters, follow-up jobs), then its event and metrics on commit. A failure also reports to the
run: a failed trade feeds the circuit breaker; a failed funding or pre-flight stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.campaigns.models import CampaignRun
from apps.campaigns.transitions import campaign_follow_migration
from apps.core import metrics
from apps.core.sql import update_rows
from apps.execution.jobs import JobFailed
from apps.execution.ledger import TradeWrite, trade_writes
from apps.execution.lifecycle import circuit_breaker, run_stop
from apps.execution.models import Job
from apps.execution.realtime import job_event, job_events


@dataclass
class Done:
    """A handler's success: `result` is stored on the job; `write` runs inside the job's
    completion transaction (ledger, counters, follow-up jobs), `events` are published on commit."""

    result: dict = field(default_factory=dict)
    write: Callable[[], None] | None = None
    event: dict = field(default_factory=dict)
    trade: TradeWrite | None = None  # a landed trade's writes, for batches (`trade_writes`)


def job_finish(job: Job, *, status: str, result: dict | None = None, error: dict | None = None,
            write: Callable[[], None] | None = None, event: str | None = None,
            extra: dict | None = None) -> None:  # fmt: skip
    with transaction.atomic():
        if not _swap(job, status=status, result=result, error=error):
            return
        if write is not None:
            write()
        _announce(job, status=status, result=result, event=event, extra=extra)


def _swap(job: Job, *, status: str, result: dict | None, error: dict | None = None) -> bool:
    """Compare-and-swap, and the row lock until commit: exactly one writer records a job's
    outcome (and its ledger rows); a job already terminal is left alone."""
    return bool(
        Job.objects.filter(pk=job.pk)
        .exclude(status__in=Job.TERMINAL)
        .update(
            status=status, result=result, error=error, finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
    )  # fmt: skip


def _swap_many(items: list[tuple[Job, Done]]) -> set[int]:
    """`_swap` to `succeeded` with each job's result, for many jobs in one statement; the ids
    of the jobs it swapped."""
    now = timezone.now()
    for job, done in items:
        job.status, job.result, job.finished_at, job.updated_at = (
            Job.Status.SUCCEEDED, done.result, now, now,
        )  # fmt: skip
    return update_rows(
        [job for job, _ in items], ["status", "result", "finished_at", "updated_at"],
        unless=("status", list(Job.TERMINAL)),
    )  # fmt: skip


def _announce(job: Job, *, status: str, result: dict | None, event: str | None,
              extra: dict | None) -> None:  # fmt: skip
    if event:
        job_event(job, event, status=status, **(extra or {}))
    # On commit: a rolled-back outcome must not be counted.
    transaction.on_commit(lambda: _observe(job, status=status, result=result or {}))


def _observe(job: Job, *, status: str, result: dict) -> None:
    """Prometheus counters for a finished job (and trade)."""
    seconds = (timezone.now() - job.started_at).total_seconds() if job.started_at else None
    metrics.job_observe(queue=job.queue, type=job.type, outcome=status, seconds=seconds)
    if job.type in Job.TRADE_TYPES and "skipped" not in result:
        outcome = status
        if status == Job.Status.SUCCEEDED:
            outcome = "simulated" if result.get("simulated") else "landed"
        metrics.trade_observe(
            side="buy" if job.type == Job.Type.TRADE_BUY else "sell",
            outcome=outcome,
            volume_lamports=int(result.get("sol_lamports") or 0) if outcome == "landed" else 0,
        )


def job_succeeded(job: Job, done: Done) -> None:
    job_finish(job, status=Job.Status.SUCCEEDED, result=done.result, write=done.write,
            event="job_completed", extra=done.event)  # fmt: skip


def jobs_succeeded(
    items: list[tuple[Job, Done]], *, execution_fields: Sequence[str] = ()
) -> list[CampaignRun]:
    """`job_succeeded` for the landed trades of a batch in one transaction: one compare-and-swap
    for all the jobs (`_swap_many`), then one write for those it swapped (`trade_writes`);
    returns their runs as `trade_writes` does. `execution_fields`: what is not saved yet of
    their executions (their landed outcome), saved with them."""
    if not items:
        return []
    with transaction.atomic():
        swapped = _swap_many(items)
        # A trade another writer finished meanwhile (its run canceled) keeps its landed record.
        if execution_fields:
            unswapped = [done.trade.execution for job, done in items if job.pk not in swapped]
            update_rows(unswapped, execution_fields)
        items = [(job, done) for job, done in items if job.pk in swapped]
        runs = trade_writes([done.trade for _, done in items], execution_fields=execution_fields)
        job_events([
            (job, "job_completed", {"status": Job.Status.SUCCEEDED, **done.event})
            for job, done in items
        ])  # fmt: skip
        # On commit: a rolled-back outcome must not be counted.
        transaction.on_commit(lambda: [
            _observe(job, status=Job.Status.SUCCEEDED, result=done.result) for job, done in items
        ])  # fmt: skip
    return runs


def job_failed(job: Job, failure: JobFailed) -> None:
    job_fail(job, status=Job.Status.FAILED, code=failure.code, message=failure.message,
          detail=failure.detail, write=failure.write)  # fmt: skip


def job_fail(job: Job, *, status: str, code: str, message: str, detail: Any = None,
          write: Callable[[], None] | None = None) -> None:  # fmt: skip
    def write_all() -> None:
        if write is not None:
            write()
        if job.type in Job.TRADE_TYPES:
            _count_trade_failure(job)

    job_finish(
        job, status=status, error={"code": code, "message": message[:500], "detail": detail},
        write=write_all, event="job_failed", extra={"error": message[:280]},
    )  # fmt: skip
    if job.type in Job.TRADE_TYPES and code == "venue_migrated":
        # The pump.fun curve completed: the campaign moves to its PumpSwap pool (or pauses).
        campaign_follow_migration(campaign_id=job.run.campaign_id)
    elif job.type in Job.TRADE_TYPES and status == Job.Status.FAILED:
        circuit_breaker(job)
    if job.type == Job.Type.PREFLIGHT:
        # The makers are funded: stop (and gather everything back) with the reason shown.
        run_stop(job.run, reason=f"Pre-flight failed: {message}"[:280], completed=False)
    if job.type == Job.Type.DISTRIBUTE:
        # Some makers may be funded already: stop, so the gather brings it all back.
        reason = f"Funding the maker wallets failed: {message}"[:280]
        run_stop(job.run, reason=reason, completed=False)


def _count_trade_failure(job: Job) -> None:
    CampaignRun.objects.filter(pk=job.run_id).update(
        trades_total=F("trades_total") + 1, trades_failed=F("trades_failed") + 1
    )
