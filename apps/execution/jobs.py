"""Jobs: create (idempotent by key), enqueue (tasks sent by name), claim, requeue, re-drive;
and the exceptions a step raises to say how its job ends.

Every step of a run is a `Job` row keyed `run:<id>:<type>:<sequence>` (UNIQUE, so enqueueing a
step twice is a no-op), sent to a thin Celery task on the step's queue once the transaction
that created it commits. Tasks are sent by name (`TASK_NAMES`), so this module does not import
`tasks.py` (which imports the runner, which imports this).

A run's jobs, by type and sequence (the key's last part):

    distribute:0  create the maker wallets (keys committed first), then one job per batch
    distribute:batch-N  one funding transaction (as many transfers as fit in a packet); the
                  last one to finish enqueues the pre-flight
    preflight:0   pre-flight: pool state, balances, one simulated trade; then the first plan
    plan:N        the planner's window N: stop conditions, then the trades due in the next
                  window (with their ETA) and plan:N+1 at the window's end
    trade_buy|trade_sell:<planner sequence>   one trade through the idempotent send; a
                  window's trades due close together (distinct makers) share one `trades`
                  task that sends them as a batch with other runs' due trades
    funds_gather:0  on stop: cancel what is queued, wait for trades in flight, then a sell job
                  per maker holding tokens (sell-<wallet>) and the makers in sweep batches
                  (sweep-N: one transaction empties as many as fit in a packet, after their
                  sells); finish: the run ends

Modes: legacy sends with `sendTransaction`; jito sends a slice's trades as bundles of up to 4
swaps with one tip inside the last (`steps/bundle_send.py`; a trade retried on its own goes as
a one-transaction bundle with its own tip); dry_run funds nothing and simulates every trade
(status `simulated`); sell_only funds nothing and goes from the pre-flight straight to the gather.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.outage import REDIS_DOWN
from apps.execution.models import Job
from apps.execution.realtime import job_event, job_events

logger = logging.getLogger(__name__)

QUEUE_FOR = {
    Job.Type.DISTRIBUTE: "distribute",
    Job.Type.PREFLIGHT: "gather",  # the queue of the run's set-up checks
    Job.Type.PLAN: "status",
    Job.Type.TRADE_BUY: "trade.buy",
    Job.Type.TRADE_SELL: "trade.sell",
    Job.Type.STATUS: "status",
    Job.Type.FUNDS_GATHER: "funds.gather",
}
# The Celery task of each job type (apps.execution.tasks), and the batch task of trades.
TASK_NAMES = {
    Job.Type.DISTRIBUTE: "execution.distribute",
    Job.Type.PREFLIGHT: "execution.preflight",
    Job.Type.PLAN: "execution.plan",
    Job.Type.TRADE_BUY: "execution.trade",
    Job.Type.TRADE_SELL: "execution.trade",
    Job.Type.FUNDS_GATHER: "execution.funds_gather",
}
TRADES_TASK = "execution.trades"
HELD_RETRY_S = 0.5  # when a queued job's lock is held, its task looks again after this


class NotYet(Exception):
    """The job cannot finish now but may later (a transaction still in flight, a wallet busy);
    the job goes back to the queue after `countdown_s` without using up an attempt."""

    def __init__(self, reason: str, *, countdown_s: float = 1.0):
        super().__init__(reason)
        self.reason = reason
        self.countdown_s = countdown_s


class JobCancelled(Exception):
    """The job no longer applies (its run paused or stopped): it ends `cancelled`."""


class JobFailed(Exception):
    """A permanent failure of the job (the chain refused it, the trade cannot be made);
    `code` is machine-readable, the message is shown to the user. `write` runs inside the
    job's failure transaction (a transaction that landed with an error still cost a fee)."""

    def __init__(
        self, message: str, *, code: str, detail: Any = None,
        write: Callable[[], None] | None = None,
    ):  # fmt: skip
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail
        self.write = write


def task_send(name: str, args: tuple, **options: Any) -> None:
    """Send the Celery task `name` (by name: see the module docstring), best-effort.

    Every task of the engine is for jobs that are already rows, committed before the send: a
    message the broker cannot take (Redis down or restarting) leaves its jobs queued, and the
    beat's re-drive (`monitor.jobs_redrive_stuck`) sends them again once it answers. Raising
    instead would fail the request or the job that made the row (a job whose next steps were
    committed dead-lettered as a bug, a started campaign answered with a 503)."""
    try:
        current_app.send_task(name, args=args, **options)
    except REDIS_DOWN:
        logger.warning("task not sent, left for the re-drive: broker unavailable",
                       extra={"task": name})  # fmt: skip


def idempotency_key(*, run_id: int, type: str, sequence: int | str) -> str:
    return f"run:{run_id}:{type}:{sequence}"


def job_create(
    *,
    run_id: int,
    type: str,
    sequence: int | str,
    step: str = Job.Step.MAIN,
    window: int | None = None,
    payload: dict | None = None,
    scheduled_for: datetime | None = None,
) -> tuple[Job, bool]:
    """Create a job and enqueue its task once the transaction commits; (job, created). A job
    with the same run + type + sequence already existing is returned as it is, not enqueued.
    `sequence` only makes the key; `step`, `window` and `payload` say what the job does."""
    key = idempotency_key(run_id=run_id, type=type, sequence=sequence)
    try:
        # Savepoint: the unique key is what makes a repeated step a no-op, not a broken transaction.
        with transaction.atomic():
            job = Job.objects.create(
                run_id=run_id, queue=QUEUE_FOR[type], type=type, step=step, window=window,
                payload=payload or {}, idempotency_key=key, scheduled_for=scheduled_for,
            )  # fmt: skip
    except IntegrityError:
        return Job.objects.get(idempotency_key=key), False
    job_enqueue(job=job)
    return job, True


def jobs_create_many(*, run_id: int, jobs: list[dict], enqueue: bool = True) -> list[Job]:
    """`job_create` for many jobs of one run (each a dict of its keyword arguments): one query
    for the keys that exist already, one INSERT for the others, whose tasks are enqueued on
    commit (unless `enqueue` is False: the caller sends them). Returns the jobs created."""
    if not jobs:
        return []
    rows = [
        Job(
            run_id=run_id, queue=QUEUE_FOR[spec["type"]], type=spec["type"],
            step=spec.get("step", Job.Step.MAIN), window=spec.get("window"),
            payload=spec.get("payload") or {}, scheduled_for=spec.get("scheduled_for"),
            idempotency_key=idempotency_key(
                run_id=run_id, type=spec["type"], sequence=spec["sequence"]
            ),
        )
        for spec in jobs
    ]  # fmt: skip
    existing = set(
        Job.objects.filter(idempotency_key__in=[row.idempotency_key for row in rows]).values_list(
            "idempotency_key", flat=True
        )
    )
    rows = [row for row in rows if row.idempotency_key not in existing]
    try:
        # Savepoint: a key created meanwhile by another writer must not break the transaction.
        with transaction.atomic():
            created = Job.objects.bulk_create(rows)
    except IntegrityError:
        # Raced: one by one, where an existing key is a no-op.
        return [
            job
            for spec in jobs
            if (job_and_created := job_create(run_id=run_id, **spec))[1]
            for job in [job_and_created[0]]
        ]
    if enqueue:
        for job in created:
            job_enqueue(job=job)
    return created


def job_enqueue(*, job: Job, countdown_s: float | None = None) -> None:
    """Send the job's task to its queue after commit (at its ETA when scheduled)."""
    eta = None if countdown_s is not None else job.scheduled_for
    job_id, queue, name = job.pk, job.queue, TASK_NAMES[job.type]
    # On commit: a worker must find the row (and its status) that caused the message.
    transaction.on_commit(
        lambda: task_send(name, (job_id,), queue=queue, eta=eta, countdown=countdown_s)
    )


def job_redrive(*, job_id: int) -> Job:
    """Re-queue a dead (or failed) job with fresh attempts. Safe: the idempotent send resolves
    any transaction an earlier attempt signed before a new one is built."""
    with transaction.atomic():
        # Row lock: a redrive racing a worker must see the status the worker left.
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status not in (Job.Status.DEAD, Job.Status.FAILED):
            return job
        job.status, job.attempts, job.error, job.finished_at = Job.Status.QUEUED, 0, None, None
        job.scheduled_for = None
        job.save(update_fields=["status", "attempts", "error", "finished_at", "scheduled_for"])
        job_enqueue(job=job)
    return job


def job_claim(job_id: int) -> Job | None:
    with transaction.atomic():
        # Row lock: the claim is a compare-and-swap against cancel and redrive.
        # No ORDER BY (the model's ordering) for a primary-key lookup: one row at most.
        rows = (
            Job.objects.select_for_update(of=("self",))
            .select_related("run__campaign__token", "run__campaign__pool")
            .filter(pk=job_id)
            .order_by()
        )
        job = next(iter(rows), None)
        if job is None or job.status in Job.TERMINAL:
            return None
        first = job.started_at is None
        job.status, job.attempts = Job.Status.PROCESSING, job.attempts + 1
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        if first:
            job_event(job, "job_started")
    return job


def jobs_claim(jobs: list[Job]) -> list[Job]:
    """`job_claim` for queued jobs the caller holds the locks of: the ones still queued."""
    if not jobs:
        return []
    now = timezone.now()
    with transaction.atomic():
        ids = set(
            Job.objects.select_for_update()
            .filter(pk__in=[job.pk for job in jobs], status=Job.Status.QUEUED)
            .values_list("pk", flat=True)
        )
        Job.objects.filter(pk__in=ids).update(
            status=Job.Status.PROCESSING, attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now), updated_at=now,
        )  # fmt: skip
        claimed = [job for job in jobs if job.pk in ids]
        job_events([(job, "job_started", {}) for job in claimed if job.started_at is None])
        for job in claimed:
            job.status, job.attempts = Job.Status.PROCESSING, job.attempts + 1
            job.started_at = job.started_at or now
    return claimed


def job_requeue(job: Job, *, countdown_s: float, count_attempt: bool) -> None:
    with transaction.atomic():
        updates: dict[str, Any] = {"status": Job.Status.QUEUED, "updated_at": timezone.now()}
        if not count_attempt:
            updates["attempts"] = F("attempts") - 1
        Job.objects.filter(pk=job.pk, status=Job.Status.PROCESSING).update(**updates)


def trades_enqueue(
    jobs: list[Job], *, batch: bool, spread_ms: int | None = None, max_size: int | None = None
) -> None:
    """Send the tasks of a window's new trade jobs on commit: one `trades` task per slice
    (`trade_slices`) at its last trade's time, so none goes early, even a slice of one (a
    batch may take other runs' trades along); one task per trade when not batched."""
    if not batch:
        for job in jobs:
            job_enqueue(job=job)
        return
    for part in trade_slices(jobs, spread_ms=spread_ms, max_size=max_size):
        ids, eta = [job.pk for job in part], part[-1].scheduled_for
        transaction.on_commit(lambda ids=ids, eta=eta: trades_send(ids, eta=eta))


def trades_send(job_ids: list[int], *, retries: int = 0, **options: Any) -> None:
    """Send a `trades` task (on the `trade.buy` queue, whatever the trades' sides)."""
    task_send(TRADES_TASK, (job_ids, retries), queue="trade.buy", **options)


def trade_slices(
    jobs: list[Job], *, spread_ms: int | None = None, max_size: int | None = None
) -> list[list[Job]]:
    """Consecutive trades (by time) of distinct maker wallets due within `spread_ms`
    (default `EXECUTION_BATCH_SPREAD_MS`) of the slice's first, at most `max_size` (default
    `EXECUTION_BATCH_MAX`) each."""
    spread = timedelta(milliseconds=spread_ms or settings.EXECUTION_BATCH_SPREAD_MS)
    max_size = max_size or settings.EXECUTION_BATCH_MAX
    slices: list[list[Job]] = []
    for job in sorted(jobs, key=lambda job: (job.scheduled_for, job.pk)):
        current = slices[-1] if slices else []
        if (
            current
            and len(current) < max_size
            and job.scheduled_for - current[0].scheduled_for <= spread
            and job.payload["wallet_id"] not in {j.payload["wallet_id"] for j in current}
        ):
            current.append(job)
        else:
            slices.append([job])
    return slices
