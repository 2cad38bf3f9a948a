"""The run engine's writes: jobs, their execution by workers, the ledger and the run counters.

Lifecycle of a run (DESIGN §5), every step a `Job` row keyed `run:<id>:<type>:<sequence>`
(UNIQUE, so enqueueing a step twice is a no-op) and a thin Celery task on the step's queue:

    distribute:0  create the maker wallets (keys committed first), then one job per batch
    distribute:batch-N  one funding transaction (several transfers); the last one to finish
                  enqueues the pre-flight
    gather:0      pre-flight: pool state, balances, one simulated trade; then the first plan
    plan:N        the planner's window N: stop conditions, then the trades due in the next
                  window (with their ETA) and plan:N+1 at the window's end
    trade_buy|trade_sell:<planner sequence>   one trade through the idempotent send; a
                  window's trades due close together (distinct makers) share one `trades`
                  task that sends them as a batch with other runs' due trades
                  (`trades_execute`)
    funds_gather:0  on stop: cancel what is queued, wait for trades in flight, one sell job per
                  maker; sell-<wallet> then sweep-<wallet>; finish: the run ends

Workers serialise on a job with a session advisory lock held while the job runs (released by
Postgres if the worker dies), and on a maker wallet the same way, so a wallet never has two
transactions in flight. A job's outcome (ledger rows, counters, status, follow-up jobs, events)
is written in one transaction under the job's row lock.

Events go to the campaign's group `campaign.<id>` on commit, shaped
`{"type": "campaign.event", "event": <job_started|job_completed|job_failed|stats>,
  "campaign_id", "run_id", "job_id", "job_type", ...}`; `job_completed` and `job_failed` add
`status`; trade completions add `side`, `signature`, `sol_lamports`, `token_raw`,
`fee_lamports`, `tip_lamports`, `wallet` (dry run: `simulated`, no signature); `job_failed`
adds `error` (a message for the user); `stats` carries `run_stats()`. (`run_status_changed`
comes from apps.campaigns.)

Modes: legacy sends with `sendTransaction`; jito sends each trade as a one-transaction bundle
with the tip inside; dry_run funds nothing and simulates every trade (status `simulated`);
sell_only funds nothing and goes from the pre-flight straight to the gather.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Exists, F, Model, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey
from solders.signature import Signature

from apps.admin_ops.models import Alert
from apps.admin_ops.services import PAUSE_ALL_REASON, alert_raise
from apps.campaigns.domain import Params, setup_fees
from apps.campaigns.models import Campaign, CampaignRun, RunStatus
from apps.campaigns.selectors import wallet_lamports
from apps.chain import spl
from apps.chain.dex.base import Side as DexSide
from apps.chain.dex.registry import get_adapter
from apps.chain.errors import (
    ChainError,
    DexError,
    PermanentRpcError,
    TransactionRejected,
    TransientRpcError,
)
from apps.chain.jito import JitoClient
from apps.chain.rpc import run_sync
from apps.chain.tx import FixedFee, PercentileFee, latest_blockhash
from apps.core import events, metrics
from apps.core.amounts import format_sol_trimmed
from apps.core.chain import ChainUnavailable, rpc_pool
from apps.core.models import SystemSwitch
from apps.core.realtime import group_send_all
from apps.core.selectors import switch_enabled
from apps.core.sql import add_to_rows, update_rows
from apps.execution import domain
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.planner import PlanState, Side, plan_window, sold_out
from apps.execution.sending import (
    LANDED_FIELDS,
    JobCancelled,
    JobFailed,
    NotYet,
    TxBalances,
    TxSpec,
    await_landings,
    build_failed,
    build_many,
    build_signed,
    new_execution,
    record_landed,
    rejected,
    send_many,
    send_once,
    send_request,
    transactions_balances,
    wants_preflight,
)
from apps.wallets.keystore import wallet_signers
from apps.wallets.models import Wallet

logger = logging.getLogger(__name__)

DRY_RUN, SELL_ONLY, JITO = "dry_run", "sell_only", "jito"
QUEUE_FOR = {
    Job.Type.DISTRIBUTE: "distribute",
    Job.Type.GATHER: "gather",
    Job.Type.PLAN: "status",
    Job.Type.TRADE_BUY: "trade.buy",
    Job.Type.TRADE_SELL: "trade.sell",
    Job.Type.STATUS: "status",
    Job.Type.FUNDS_GATHER: "funds.gather",
}
TRADE_TYPES = (Job.Type.TRADE_BUY, Job.Type.TRADE_SELL)
# Advisory-lock namespaces (high bits of the 64-bit key).
_JOB_LOCK, _WALLET_LOCK = 1, 2
_BUSY_RETRY_S = 0.25  # when a batch finds a maker wallet busy, it tries that trade again
_HELD_RETRY_S = 0.5  # when a queued job's lock is held, its task looks again after this
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout


@dataclass
class Done:
    """A handler's success: `result` is stored on the job; `write` runs inside the job's
    completion transaction (ledger, counters, follow-up jobs), `events` are published on commit."""

    result: dict = field(default_factory=dict)
    write: Callable[[], None] | None = None
    event: dict = field(default_factory=dict)
    trade: TradeWrite | None = None  # a landed trade's writes, for batches (`_trade_writes`)


@dataclass(frozen=True)
class TradeWrite:
    """What a landed trade writes: its ledger rows, its execution's amounts, the run totals."""

    execution: Execution
    ledger: list[LedgerEntry]
    amounts: dict[str, int]
    totals: dict[str, int]


# ---------------------------------------------------------------------------------------------
# Jobs


def idempotency_key(*, run_id: int, type: str, sequence: int | str) -> str:
    return f"run:{run_id}:{type}:{sequence}"


def job_create(
    *,
    run_id: int,
    type: str,
    sequence: int | str,
    payload: dict | None = None,
    scheduled_for: datetime | None = None,
) -> tuple[Job, bool]:
    """Create a job and enqueue its task once the transaction commits; (job, created). A job
    with the same run + type + sequence already existing is returned as it is, not enqueued."""
    key = idempotency_key(run_id=run_id, type=type, sequence=sequence)
    try:
        # Savepoint: the unique key is what makes a repeated step a no-op, not a broken transaction.
        with transaction.atomic():
            job = Job.objects.create(
                run_id=run_id, queue=QUEUE_FOR[type], type=type, payload=payload or {},
                idempotency_key=key, scheduled_for=scheduled_for,
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
    from apps.execution.tasks import task_for

    eta = None if countdown_s is not None else job.scheduled_for
    job_id, queue, task = job.pk, job.queue, task_for(job.type)
    # On commit: a worker must find the row (and its status) that caused the message.
    transaction.on_commit(
        lambda: task.apply_async((job_id,), queue=queue, eta=eta, countdown=countdown_s)
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


@contextlib.contextmanager
def advisory_lock(namespace: int, key: int, *, wait_ms: int = 0) -> Iterator[bool]:
    """A session-level advisory lock, waiting up to `wait_ms` for it; yields whether it is
    held. Postgres releases it if the worker dies, so a crashed holder never blocks the job or
    wallet for good."""
    lock_key = _lock_key(namespace, key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key])
        held = cursor.fetchone()[0]
        if not held and wait_ms:  # busy: wait for it (the free case costs one statement)
            held = _advisory_lock_wait(cursor, lock_key, wait_ms)
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key])


@contextlib.contextmanager
def advisory_locks(namespace: int, keys: Iterable[int]) -> Iterator[set[int]]:
    """`advisory_lock` (without waiting) for many keys in one statement; yields the keys
    held, released together at the end."""
    by_lock = {_lock_key(namespace, key): key for key in sorted(set(keys))}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
            [list(by_lock)],
        )
        locked = [lock for (lock,) in cursor.fetchall()]
    try:
        yield {by_lock[lock] for lock in locked}
    finally:
        _advisory_unlock(namespace, [by_lock[lock] for lock in locked])


def _advisory_unlock(namespace: int, keys: list[int]) -> None:
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k",
                [[_lock_key(namespace, key) for key in keys]],
            )


def _table(model: type[Model]) -> str:
    """A model's table name, quoted for SQL written here."""
    return connection.ops.quote_name(model._meta.db_table)


_LOCK_SHIFT = 48  # a lock key: its namespace in the high bits, the job's or wallet's id below


def _lock_key(namespace: int, key: int) -> int:
    return (namespace << _LOCK_SHIFT) | key


def _try_lock_sql(column: str) -> str:
    """`pg_try_advisory_lock` on `_lock_key(namespace, <column>)` inside a query, the
    namespace its parameter: the same key as the Python side takes and releases."""
    return f"pg_try_advisory_lock(%s::bigint << {_LOCK_SHIFT} | {column})"


def _advisory_lock_wait(cursor, lock_key: int, wait_ms: int) -> bool:
    """Wait for the lock on the server (no CPU, no re-queued message) up to `wait_ms`."""
    try:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false), pg_advisory_lock(%s)",
            [f"{wait_ms}ms", lock_key],
        )
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return False
    finally:
        cursor.execute("RESET lock_timeout")  # back to the session's default
    return True


def _group_send_on_commit(messages: list[tuple[str, dict]]) -> None:
    """`apps.core.realtime.group_send_on_commit` for the engine's hot path: every (group,
    event) of `messages` sent at once on the worker thread's own event loop (`run_sync`), so
    the channel layer keeps its Redis connections for the thread instead of opening one in a
    fresh loop and thread per event (what `async_to_sync` does outside a loop; ~13 ms of a
    trade's time), and a batch's events share one trip through the loop."""

    async def send_all() -> None:
        await group_send_all(messages)  # best-effort: never fails the trade that published

    def send() -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_sync(send_all())
        else:  # called from async code (a consumer, a test): its own loop cannot be re-entered
            async_to_sync(send_all)()

    # On commit: a browser must never see a change that was rolled back.
    if messages:
        transaction.on_commit(send)


def _event(job: Job, event: str, **extra: Any) -> None:
    _events([(job, event, extra)])


def _events(items: list[tuple[Job, str, dict]]) -> None:
    """Each (job, event, extra) to its campaign's group on commit, all in one go; a trade's
    also to webhook subscribers (`_trade_event`)."""
    messages = []
    for job, event, extra in items:
        campaign_id = job.run.campaign_id
        messages.append((
            f"campaign.{campaign_id}",
            {
                "type": "campaign.event", "event": event, "campaign_id": campaign_id,
                "run_id": job.run_id, "job_id": job.pk, "job_type": job.type, **extra,
            },
        ))  # fmt: skip
        if job.type in TRADE_TYPES:
            _trade_event(job, event, extra)
    _group_send_on_commit(messages)


def _trade_event(job: Job, event: str, extra: dict) -> None:
    """`trade.landed` / `trade.failed` for subscribers (a simulated or skipped trade is neither)."""
    if event == "job_completed" and extra.get("signature") and not extra.get("simulated"):
        event_type = "trade.landed"
    elif event == "job_failed":
        event_type = "trade.failed"
    else:
        return
    data = {
        "campaign_id": job.run.campaign_id, "run_id": job.run_id, "job_id": job.pk,
        "side": "buy" if job.type == Job.Type.TRADE_BUY else "sell",
        **{key: value for key, value in extra.items() if key != "status"},
    }  # fmt: skip
    events.emit(event_type=event_type, user_id=job.run.campaign.owner_id, data=data)


def _claim(job_id: int) -> Job | None:
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
            _event(job, "job_started")
    return job


def _finish(job: Job, *, status: str, result: dict | None = None, error: dict | None = None,
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
        _event(job, event, status=status, **(extra or {}))
    # On commit: a rolled-back outcome must not be counted.
    transaction.on_commit(lambda: _observe(job, status=status, result=result or {}))


def _observe(job: Job, *, status: str, result: dict) -> None:
    """Prometheus counters for a finished job (and trade)."""
    seconds = (timezone.now() - job.started_at).total_seconds() if job.started_at else None
    metrics.job_observe(queue=job.queue, type=job.type, outcome=status, seconds=seconds)
    if job.type in TRADE_TYPES and "skipped" not in result:
        outcome = status
        if status == Job.Status.SUCCEEDED:
            outcome = "simulated" if result.get("simulated") else "landed"
        metrics.trade_observe(
            side="buy" if job.type == Job.Type.TRADE_BUY else "sell",
            outcome=outcome,
            volume_lamports=int(result.get("sol_lamports") or 0) if outcome == "landed" else 0,
        )


def _requeue(job: Job, *, countdown_s: float, count_attempt: bool) -> None:
    with transaction.atomic():
        updates: dict[str, Any] = {"status": Job.Status.QUEUED, "updated_at": timezone.now()}
        if not count_attempt:
            updates["attempts"] = F("attempts") - 1
        Job.objects.filter(pk=job.pk, status=Job.Status.PROCESSING).update(**updates)


def job_execute(*, job_id: int) -> float | None:
    """Run one job (called by its Celery task). Returns in how many seconds the task must run
    again (the job went back to `queued`), or None when there is nothing more to do."""
    # Job lock for the whole run of the job (network calls included, so not a row lock): two
    # deliveries of one task never work on the same job at once.
    with advisory_lock(_JOB_LOCK, job_id) as held:
        if not held:
            # Another worker runs it right now (and re-queues it if needed), or one that has
            # just finished it still holds the lock while the job was re-driven (queued again):
            # a queued job is looked at again in a moment, so its task is not lost.
            queued = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).exists()
            return _HELD_RETRY_S if queued else None
        job = _claim(job_id)
        if job is None:
            return None
        try:
            done = HANDLERS[job.type](job)
        except NotYet as wait:
            _requeue(job, countdown_s=wait.countdown_s, count_attempt=False)
            return wait.countdown_s
        except (TransientRpcError, ChainUnavailable) as error:
            if job.attempts >= domain.MAX_ATTEMPTS:
                _fail(job, status=Job.Status.DEAD, code="transient_exhausted", message=str(error))
                return None
            countdown = domain.backoff_seconds(attempt=job.attempts)
            _requeue(job, countdown_s=countdown, count_attempt=True)
            return countdown
        except JobCancelled as why:
            _finish(job, status=Job.Status.CANCELLED, result={"cancelled": str(why)})
            return None
        except JobFailed as failure:
            _failed(job, failure)
            return None
        except Exception as error:
            # A bug must not leave the job `processing` for ever: dead-letter it (visible and
            # re-drivable), then let Celery and Sentry see the exception.
            message = f"{type(error).__name__}: the engine failed; see the worker logs"
            _fail(job, status=Job.Status.DEAD, code="internal_error", message=message)
            raise
        _succeeded(job, done)
        if job.type in TRADE_TYPES:
            _stop_if_done(job.run_id)
        return None


def _succeeded(job: Job, done: Done) -> None:
    _finish(job, status=Job.Status.SUCCEEDED, result=done.result, write=done.write,
            event="job_completed", extra=done.event)  # fmt: skip


def _succeeded_many(items: list[tuple[Job, Done]]) -> list[CampaignRun]:
    """`_succeeded` for the landed trades of a batch in one transaction: one compare-and-swap
    for all the jobs (`_swap_many`), then one write for those it swapped (`_trade_writes`);
    returns their runs as `_trade_writes` does."""
    if not items:
        return []
    with transaction.atomic():
        swapped = _swap_many(items)
        items = [(job, done) for job, done in items if job.pk in swapped]
        runs = _trade_writes([done.trade for _, done in items])
        _events([
            (job, "job_completed", {"status": Job.Status.SUCCEEDED, **done.event})
            for job, done in items
        ])  # fmt: skip
        # On commit: a rolled-back outcome must not be counted.
        transaction.on_commit(lambda: [
            _observe(job, status=Job.Status.SUCCEEDED, result=done.result) for job, done in items
        ])  # fmt: skip
    return runs


def _failed(job: Job, failure: JobFailed) -> None:
    _fail(job, status=Job.Status.FAILED, code=failure.code, message=failure.message,
          detail=failure.detail, write=getattr(failure, "write", None))  # fmt: skip


def _fail(job: Job, *, status: str, code: str, message: str, detail: Any = None,
          write: Callable[[], None] | None = None) -> None:  # fmt: skip
    def write_all() -> None:
        if write is not None:
            write()
        if job.type in TRADE_TYPES:
            _count_trade_failure(job)

    _finish(
        job, status=status, error={"code": code, "message": message[:500], "detail": detail},
        write=write_all, event="job_failed", extra={"error": message[:280]},
    )  # fmt: skip
    if job.type in TRADE_TYPES and status == Job.Status.FAILED:
        _circuit_breaker(job)
    if job.type == Job.Type.GATHER:
        # The makers are funded: stop (and gather everything back) with the reason shown.
        _run_stop(job.run, reason=f"Pre-flight failed: {message}"[:280], completed=False)
    if job.type == Job.Type.DISTRIBUTE:
        # Some makers may be funded already: stop, so the gather brings it all back.
        reason = f"Funding the maker wallets failed: {message}"[:280]
        _run_stop(job.run, reason=reason, completed=False)


# ---------------------------------------------------------------------------------------------
# Run lifecycle hooks (called by apps.campaigns.services)


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
        job, _ = job_create(run_id=run_id, type=Job.Type.PLAN, sequence=window)
    return job


def run_engine_stop(*, run_id: int) -> Job:
    """Gather a stopping run's funds (idempotent)."""
    with transaction.atomic():
        job, _ = job_create(run_id=run_id, type=Job.Type.FUNDS_GATHER, sequence=0)
    return job


def _run_stop(run: CampaignRun, *, reason: str, completed: bool) -> None:
    from apps.campaigns.services import campaign_stop

    with transaction.atomic():
        # Row lock: the stop reason lives in the summary, read-modify-written.
        locked = CampaignRun.objects.select_for_update().get(pk=run.pk)
        locked.summary["completed"] = completed
        locked.save(update_fields=["summary", "updated_at"])
    campaign_stop(campaign_id=run.campaign_id, actor=None, reason=reason)
    run_engine_stop(run_id=run.pk)


# ---------------------------------------------------------------------------------------------
# Shared pieces of the handlers


def _params(run: CampaignRun) -> Params:
    return Params.from_json(run.campaign.params)


def _fee_policy(params: Params) -> FixedFee | PercentileFee:
    if params.priority_fee_policy == "dynamic":
        return PercentileFee(
            percentile=params.priority_fee_percentile,
            cap_micro_lamports=params.priority_fee_cap_micro_lamports,
        )
    return FixedFee(params.priority_fee_micro_lamports)


def _makers(run: CampaignRun) -> list[Wallet]:
    return list(Wallet.objects.filter(run_id=run.pk, kind=Wallet.Kind.MAKER).order_by("id"))


def ledger_lamports(*, run_id: int, wallet_id: int) -> int:
    total = LedgerEntry.objects.filter(run_id=run_id, wallet_id=wallet_id).aggregate(
        total=Sum("lamports_delta")
    )["total"]
    return int(total or 0)


def ledger_tokens(*, run_id: int, wallet_id: int, mint: str) -> int:
    total = LedgerEntry.objects.filter(run_id=run_id, wallet_id=wallet_id, mint=mint).aggregate(
        total=Sum("token_delta_raw")
    )["total"]
    return int(total or 0)


def _ledger_write(
    *,
    execution: Execution,
    balances: TxBalances,
    kind: str,
    wallets: list[Wallet],
    mint: str = "",
) -> dict[int, int]:
    """Write `_ledger_rows`; returns {wallet id: lamports delta of its `kind` row}. Idempotent
    per (execution, wallet, kind) by the unique constraint."""
    rows, deltas = _ledger_rows(
        execution=execution, balances=balances, kind=kind, wallets=wallets, mint=mint
    )
    LedgerEntry.objects.bulk_create(rows, ignore_conflicts=True)
    return deltas


def _ledger_rows(
    *, execution: Execution, balances: TxBalances, kind: str, wallets: list[Wallet], mint: str
) -> tuple[list[LedgerEntry], dict[int, int]]:
    """Ledger rows of a landed transaction from its real pre/post balances: per wallet one
    `kind` row (lamports less the fee it paid, token delta) and a `fee` row for the fee payer;
    and {wallet id: lamports delta of its `kind` row}."""
    rows, deltas = [], {}

    def row(wallet: Wallet, kind: str, lamports: int, tokens: int = 0) -> None:
        rows.append(
            LedgerEntry(
                run_id=execution.run_id, wallet=wallet, kind=kind, lamports_delta=lamports,
                mint=mint if tokens else "", token_delta_raw=tokens, execution=execution,
            )
        )  # fmt: skip

    for wallet in wallets:
        lamports = balances.lamports_delta(wallet.address)
        if wallet.address == balances.payer:
            # The payer's fee and tip are rows of their own, not part of its `kind` row.
            if balances.tip:
                lamports += balances.tip
                row(wallet, LedgerEntry.Kind.TIP, -balances.tip)
            lamports += balances.fee
            row(wallet, LedgerEntry.Kind.FEE, -balances.fee)
        tokens = balances.token_delta(owner=wallet.address, mint=mint) if mint else 0
        deltas[wallet.pk] = lamports
        if lamports or tokens:
            row(wallet, kind, lamports, tokens)
    return rows, deltas


def _already_written(execution: Execution) -> bool:
    if getattr(execution, "fresh", False):
        return False  # sent by this very attempt (see send_once): nothing written yet
    return LedgerEntry.objects.filter(execution=execution).exists()


def _failed_landed(execution: Execution, *, payer: Wallet) -> JobFailed:
    """A transaction that landed with an error: the fee was charged (ledger), nothing else."""
    failure = JobFailed(
        f"The transaction landed but failed: {(execution.error or {}).get('err', '')}",
        code="landed_failed",
        detail={"signature": execution.signature},
    )
    balances = execution.balances

    def write() -> None:
        if not _already_written(execution):
            _ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE,
                wallets=[payer],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=execution.run_id).update(
                fees_lamports=F("fees_lamports") + balances.fee
            )

    failure.write = write
    return failure


# ---------------------------------------------------------------------------------------------
# distribute


def _distribute(job: Job) -> Done:
    if job.payload.get("wallet_ids"):
        return _distribute_batch(job)
    from apps.wallets.services import wallets_create_makers

    run = job.run
    params = _params(run)
    makers = _makers(run)
    if not makers:
        # Commits every encrypted key (one transaction) before a single lamport moves.
        makers = wallets_create_makers(
            owner=run.campaign.owner, run_id=run.pk, count=params.maker_count
        )
    # A dry run sends nothing: its makers exist (the flow is the same) but are never funded;
    # a sell-only run buys nothing, so its makers need no funding either.
    unfunded = params.mode in (DRY_RUN, SELL_ONLY)
    batches = [] if unfunded else domain.batches([maker.pk for maker in makers])

    def write() -> None:
        if not batches:
            job_create(run_id=run.pk, type=Job.Type.GATHER, sequence=0)
        for index, ids in enumerate(batches):
            job_create(
                run_id=run.pk, type=Job.Type.DISTRIBUTE, sequence=f"batch-{index}",
                payload={"wallet_ids": ids, "lamports": params.maker_funding_lamports},
            )  # fmt: skip
        _summary_update(run.pk, maker_count=len(makers), fund_batches=len(batches))

    return Done(result={"makers": len(makers), "batches": len(batches)}, write=write)


def distribute_batch_spec(job: Job) -> TxSpec:
    """The funding transaction of a distribute batch: one transfer per maker."""
    run = job.run
    funding = run.campaign.funding_wallet
    makers = list(Wallet.objects.filter(pk__in=job.payload["wallet_ids"]).order_by("id"))
    lamports = int(job.payload["lamports"])
    source = Pubkey.from_string(funding.address)

    async def instructions(rpc) -> list:
        return [
            spl.sol_transfer(
                source=source, destination=Pubkey.from_string(m.address), lamports=lamports
            )
            for m in makers
        ]

    return TxSpec(
        payer=funding, signers=[], wallet=funding, side=Execution.Side.TRANSFER,
        instructions=instructions, fee_policy=_fee_policy(_params(run)),
        compute_unit_limit=domain.transfer_compute_units(len(makers)),
    )  # fmt: skip


def _distribute_batch(job: Job) -> Done:
    run = job.run
    funding = run.campaign.funding_wallet
    makers = list(Wallet.objects.filter(pk__in=job.payload["wallet_ids"]).order_by("id"))
    execution = send_once(job=job, network=run.campaign.network, spec=distribute_batch_spec(job))
    if execution.status != Execution.Status.LANDED:
        raise _failed_landed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not _already_written(execution):
            deltas = _ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.FUND,
                wallets=[funding, *makers],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=run.pk).update(
                funded_lamports=F("funded_lamports") + sum(deltas[m.pk] for m in makers),
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        # Row lock on the run: concurrent batches agree on which one finishes the distribute.
        CampaignRun.objects.select_for_update().filter(pk=run.pk).first()
        pending = (
            Job.objects.filter(run=run, type=Job.Type.DISTRIBUTE, payload__has_key="wallet_ids")
            .exclude(pk=job.pk)
            .exclude(status=Job.Status.SUCCEEDED)
            .exists()
        )
        if not pending:
            job_create(run_id=run.pk, type=Job.Type.GATHER, sequence=0)

    return Done(
        result={"signature": execution.signature, "makers": len(makers)},
        write=write,
        event={"signature": execution.signature, "fee_lamports": balances.fee},
    )


# ---------------------------------------------------------------------------------------------
# gather (pre-flight)


async def _pool_state(rpc, *, pool_dex: str, pool_address: str, mint: str):
    adapter = get_adapter(pool_dex)
    kwargs = {"mint": Pubkey.from_string(mint)} if pool_dex == "pumpfun" else {}
    return adapter, await adapter.load_state(
        rpc=rpc, address=Pubkey.from_string(pool_address), **kwargs
    )


def _preflight(job: Job) -> Done:
    run = job.run
    campaign = run.campaign
    params = _params(run)
    makers = _makers(run)
    if not makers:
        raise JobFailed("The run has no maker wallets.", code="no_makers")
    unfunded = [m.address for m in makers if ledger_lamports(run_id=run.pk, wallet_id=m.pk) <= 0]
    if unfunded and params.mode not in (SELL_ONLY, DRY_RUN):
        raise JobFailed(f"{len(unfunded)} maker wallets are not funded.", code="unfunded")
    pool = campaign.pool
    mint = campaign.token.mint
    try:
        run_sync(_pool_state(rpc_pool(campaign.network), pool_dex=pool.dex,
                             pool_address=pool.address, mint=mint))  # fmt: skip
    except (TransientRpcError, ChainUnavailable):
        raise
    except ChainError as error:
        raise JobFailed(f"The pool cannot be traded: {error}", code="pool") from None
    if params.mode != SELL_ONLY:
        # A dry run simulates as the funding wallet: its makers hold nothing.
        maker = makers[0] if params.mode != DRY_RUN else campaign.funding_wallet
        amount = domain.buy_amount(
            planned=params.trade_size_min_lamports, available=params.maker_funding_lamports,
            minimum=1,
        )  # fmt: skip
        spec = _trade_spec(run=run, params=params, maker=maker, side=Side.BUY, amount=amount)
        try:
            # Build = simulate (the compute-unit limit comes from a simulation); nothing is sent.
            build_signed(spec=spec, rpc=rpc_pool(campaign.network))
        except ChainError as error:
            if isinstance(error, TransientRpcError):
                raise
            raise JobFailed(f"A simulated trade fails: {error}", code="simulation") from None
    else:
        # Sell-only: no trades are planned; the gather sells what the makers hold, then
        # sweeps. Outside the job's transaction: campaign_stop locks campaign, then run.
        _run_stop(run, reason="Sell-only run: selling what the makers hold.", completed=False)
        return Done(result={"preflight": "ok", "sell_only": True})

    def write() -> None:
        now_ms = int(timezone.now().timestamp() * 1000)
        config = _plan_config(params=params, seed=run.seed)
        # The makers (by their index in the plan) are the run's for good: kept for the planner.
        _summary_update(
            run.pk, plan=PlanState.start(config).to_json(), plan_epoch_ms=now_ms, plan_window=0,
            maker_ids=[maker.pk for maker in makers],
        )  # fmt: skip
        job_create(run_id=run.pk, type=Job.Type.PLAN, sequence=0)

    return Done(result={"preflight": "ok"}, write=write)


def _summary_update(run_id: int, **values: Any) -> None:
    # Row lock: the summary JSON is read-modify-written by several jobs.
    run = CampaignRun.objects.select_for_update().get(pk=run_id)
    run.summary.update(values)
    run.save(update_fields=["summary", "updated_at"])


# ---------------------------------------------------------------------------------------------
# plan


SOLD_OUT_REASON = "Sell-only: the makers sold everything they held."


def _stop_reason(run: CampaignRun, params: Params) -> str | None:
    if params.target_volume_lamports and run.volume_lamports >= params.target_volume_lamports:
        return "Target volume reached."
    if params.budget_cap_lamports and run.spent_lamports >= params.budget_cap_lamports:
        return "Budget cap reached."
    return None


def _plan_config(*, params: Params, seed: int, sell_only: bool = False):
    return domain.plan_config(
        params=params, seed=seed, busy_ms=settings.EXECUTION_BUSY_MS, sell_only=sell_only
    )


def _stop_if_done(run_id: int) -> None:
    """After each trade: a reached target or budget stops the run at once, not at the next
    planner window (the stop is idempotent, so concurrent trades may all ask)."""
    run = CampaignRun.objects.select_related("campaign").get(pk=run_id)
    _stop_when_reached([run], params={run.pk: Params.from_json(run.campaign.params)})


# What `_stop_when_reached` reads of a run.
_STOP_FIELDS = ("campaign", "status", "volume_lamports", "fees_lamports", "tips_lamports",
                "price_impact_lamports")  # fmt: skip


def _stop_when_reached(runs: list[CampaignRun], *, params: dict[int, Params]) -> None:
    """`_stop_if_done` for runs whose status and totals (`_STOP_FIELDS`) are known already
    (`params` by run id)."""
    for run in runs:
        reason = run.status == RunStatus.RUNNING and _stop_reason(run, params[run.pk])
        if reason:
            _run_stop(run, reason=reason, completed=True)


def plan_window_ms() -> int:
    return settings.EXECUTION_PLAN_WINDOW_MS


def _plan(job: Job) -> Done:
    from apps.campaigns.services import campaign_pause

    run = job.run  # as read by the claim (its write re-reads it under the row lock)
    if run.status != RunStatus.RUNNING:
        raise JobCancelled(f"the run is {run.status}")
    if run.summary.get("plan_window") != int(job.idempotency_key.rsplit(":", 1)[1]):
        raise JobCancelled("a newer planner window took over (resume)")
    params = Params.from_json(run.campaign.params)
    reason = _stop_reason(run, params)
    if reason:
        _run_stop(run, reason=reason, completed=True)
        return Done(result={"stopped": reason})
    if switch_enabled(name=SystemSwitch.Name.PAUSE_ALL):
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=PAUSE_ALL_REASON)
        return Done(result={"paused": "pause_all"})
    sell_only = bool(run.summary.get("sell_only"))
    if sell_only and sold_out(PlanState.from_json(run.summary["plan"])):
        # Sell-only and every maker sold what it held: stop, so the gather sweeps them.
        _run_stop(run, reason=SOLD_OUT_REASON, completed=False)
        return Done(result={"stopped": SOLD_OUT_REASON})
    config = _plan_config(params=params, seed=run.seed, sell_only=sell_only)
    window = run.summary["plan_window"]
    now = timezone.now()
    capped = bool(
        params.daily_volume_cap_lamports
        and _volume_since(run.pk, _day_start(now)) >= params.daily_volume_cap_lamports
    )

    def write() -> None:
        # Row lock: the plan state must advance exactly once per window.
        locked = CampaignRun.objects.select_for_update().get(pk=run.pk)
        if locked.summary.get("plan_window") != window or locked.status != RunStatus.RUNNING:
            return
        now_ms = int(now.timestamp() * 1000)
        state = PlanState.from_json(locked.summary["plan"])
        # Never plan into the past (after a resume, a daily-cap wait or a late window): the
        # planner's clock continues from now.
        epoch_ms = max(locked.summary["plan_epoch_ms"], now_ms - state.clock_ms)
        horizon_ms, trades = now_ms + plan_window_ms(), []
        if capped:
            # Today's volume cap is reached: plan nothing until the next UTC day.
            horizon_ms = int((_day_start(now) + timedelta(days=1)).timestamp() * 1000)
        else:
            trades, state = plan_window(config, state, until_ms=horizon_ms - epoch_ms)
        makers = locked.summary["maker_ids"]
        # The window's trades and the next window, in one INSERT.
        created = jobs_create_many(
            run_id=run.pk,
            enqueue=False,
            jobs=[
                *(
                    {
                        "type": Job.Type.TRADE_BUY if trade.side == Side.BUY
                        else Job.Type.TRADE_SELL,
                        "sequence": trade.sequence,
                        "payload": {"wallet_id": makers[trade.wallet], "lamports": trade.lamports},
                        "scheduled_for": _at(epoch_ms + trade.at_ms),
                    }
                    for trade in trades
                ),
                {"type": Job.Type.PLAN, "sequence": window + 1, "scheduled_for": _at(horizon_ms)},
            ],
        )  # fmt: skip
        trades_enqueue([job for job in created if job.type in TRADE_TYPES], batch=batchable(params))
        for job in created:
            if job.type == Job.Type.PLAN:
                job_enqueue(job=job)
        locked.summary.update(
            plan=state.to_json(), plan_window=window + 1, plan_epoch_ms=epoch_ms,
            daily_cap_reached=capped,
        )  # fmt: skip
        locked.save(update_fields=["summary", "updated_at"])

    return Done(
        result={"window": window, "daily_cap_reached": capped},
        write=write,
    )


def plan_backpressure(*, job_id: int) -> float | None:
    """The planner's backpressure, which the `plan` task looks at before the job is locked and
    claimed. While trades of the run's earlier windows still wait a whole window past their
    time (the workers are saturated, or a wallet is stuck), its next window waits too: more
    trades would only grow the queue and the wallet contention. Then one statement keeps the
    job queued (touched, so the stuck-job beat leaves it alone) and the task looks again in a
    window's time (the return value, in seconds), with nothing written in between; the
    planner's clock then goes on from that time. None: go on with the window.

    In SQL: on saturated workers a planner window runs once a window for every live run and
    mostly finds that it must wait, and the ORM's version of this statement took longer to
    build and compile than to run."""
    now = timezone.now()
    table = _table(Job)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS plan SET updated_at = %s "  # noqa: S608 (values are parameters)
            "WHERE plan.id = %s AND plan.type = %s AND plan.status = %s AND EXISTS ("
            f" SELECT 1 FROM {table} AS trade WHERE trade.run_id = plan.run_id"
            " AND trade.type = ANY(%s) AND trade.status = ANY(%s) AND trade.scheduled_for < %s)",
            [now, job_id, Job.Type.PLAN, Job.Status.QUEUED, list(TRADE_TYPES),
             [Job.Status.QUEUED, Job.Status.PROCESSING],
             now - timedelta(milliseconds=plan_window_ms())],
        )  # fmt: skip
        waiting = cursor.rowcount
    return plan_window_ms() / 1000 if waiting else None


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _volume_since(run_id: int, since: datetime) -> int:
    """SOL traded by a run since `since` (landed, or simulated in a dry run)."""
    totals = Execution.objects.filter(
        run_id=run_id, side__in=[Execution.Side.BUY, Execution.Side.SELL],
        status__in=[Execution.Status.LANDED, Execution.Status.SIMULATED], created_at__gte=since,
    ).aggregate(sol_in=Sum("sol_in_lamports"), sol_out=Sum("sol_out_lamports"))  # fmt: skip
    return int((totals["sol_in"] or 0) + (totals["sol_out"] or 0))


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


# ---------------------------------------------------------------------------------------------
# trades


def _trade_spec(
    *, run: CampaignRun, params: Params, maker: Wallet, side: str, amount: int,
    payer: Wallet | None = None, quotes: list | None = None, jito: JitoClient | None = None,
    tip_lamports: int = 0, pool_state: tuple | None = None,
) -> TxSpec:  # fmt: skip
    """`pool_state`: (adapter, state) read once for trades built together; otherwise each
    attempt reads the pool's state when it builds."""
    campaign = run.campaign
    pool, mint = campaign.pool, campaign.token.mint
    owner = Pubkey.from_string(maker.address)
    dex_side = DexSide.BUY if side == Side.BUY else DexSide.SELL

    async def instructions(rpc) -> list:
        adapter, state = pool_state or await _pool_state(
            rpc, pool_dex=pool.dex, pool_address=pool.address, mint=mint
        )
        quote = adapter.quote(state=state, side=dex_side, amount_in=amount)
        if quotes is not None:
            quotes.append(quote)
        build = adapter.build_buy if dex_side == DexSide.BUY else adapter.build_sell
        return build(state=state, owner=owner, quote=quote, slippage_bps=params.slippage_bps)

    return TxSpec(
        payer=payer or maker, signers=[maker], wallet=maker,
        side=Execution.Side.BUY if side == Side.BUY else Execution.Side.SELL,
        instructions=instructions, fee_policy=_fee_policy(params),
        planned={"sol_in_lamports": amount} if side == Side.BUY else {"token_in_raw": amount},
        jito=jito, tip_lamports=tip_lamports,
    )  # fmt: skip


def jito_client(*, network: str, region: str | None) -> JitoClient:
    """The block engine of a network: the localnet serves one on its RPC URL; elsewhere the
    campaign's region."""
    if network == "localnet":
        return JitoClient(base_url=settings.SOLANA_RPC_URLS["localnet"][0])
    return JitoClient.for_region(region or "mainnet")


def tip_for(*, params: Params, job_id: int) -> int:
    """A Jito tip within the campaign's range, the same for every attempt of a job."""
    low, high = params.jito_tip_min_lamports or 0, params.jito_tip_max_lamports or 0
    return random.Random(job_id).randint(low, high) if high else 0


def _trade(job: Job) -> Done:
    run = job.run
    if run.status != RunStatus.RUNNING and not job.executions.exists():
        # Paused or stopping: trades not yet started are dropped (the planner re-plans).
        raise JobCancelled(f"the run is {run.status}")
    params = _params(run)
    maker = Wallet.objects.get(pk=job.payload["wallet_id"])
    side = Side.BUY if job.type == Job.Type.TRADE_BUY else Side.SELL
    # Wallet lock: one transaction in flight per maker wallet, whatever the planner assumed.
    # A trade due while the maker's previous one is still confirming waits for it here, on the
    # server: re-queueing it costs a message and a claim each time it finds the wallet busy.
    wait_ms = settings.EXECUTION_WALLET_WAIT_MS
    with advisory_lock(_WALLET_LOCK, maker.pk, wait_ms=wait_ms) as held:
        if not held:
            raise NotYet("the maker wallet has a transaction in flight", countdown_s=0.3)
        return _trade_locked(job, run=run, params=params, maker=maker, side=side)


def _trade_locked(job: Job, *, run, params: Params, maker: Wallet, side: str) -> Done:
    mint = run.campaign.token.mint
    if params.mode == DRY_RUN:
        return _trade_dry(job, run=run, params=params, maker=maker, side=side)
    attempts = list(job.executions.order_by("attempt"))
    if not attempts:
        if side == Side.BUY:
            held = ledger_lamports(run_id=run.pk, wallet_id=maker.pk)
        else:
            held = ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint)
        amount = trade_amount(job, params=params, side=side, held=held)
        if amount <= 0:
            return trade_skipped(side)
    else:
        amount = int(attempts[0].sol_in_lamports or 0) or int(attempts[0].token_in_raw)
    jito = None
    if params.execution_mode == JITO:
        jito = jito_client(network=run.campaign.network, region=params.jito_region)
    spec = _trade_spec(
        run=run, params=params, maker=maker, side=side, amount=amount, jito=jito,
        tip_lamports=tip_for(params=params, job_id=job.pk) if jito else 0,
    )  # fmt: skip
    # A paused or stopping run only resolves the transaction it already signed.
    execution = send_once(
        job=job, network=run.campaign.network, spec=spec,
        allow_new=run.status == RunStatus.RUNNING, attempts=attempts,
    )  # fmt: skip
    return trade_done(execution, run=run, maker=maker, side=side)


def trade_amount(job: Job, *, params: Params, side: str, held: int) -> int:
    """What a new trade spends: a buy its planned lamports within what the maker `held` (its
    ledger lamports), a sell every token the maker `held`. Zero or less: nothing to trade."""
    if side == Side.BUY:
        return domain.buy_amount(
            planned=int(job.payload["lamports"]), available=held,
            minimum=params.trade_size_min_lamports,
        )  # fmt: skip
    return held


def trade_skipped(side: str) -> Done:
    reason = (
        "nothing to sell" if side == Side.SELL else "the maker's balance is below the minimum trade"
    )
    return Done(result={"skipped": reason})


def trade_done(execution: Execution, *, run: CampaignRun, maker: Wallet, side: str) -> Done:
    """A trade's landed transaction → the job's result, ledger rows, run totals and event
    (raises JobFailed when it landed with an error)."""
    if execution.status != Execution.Status.LANDED:
        raise _failed_landed(execution, payer=maker)
    mint = run.campaign.token.mint
    balances = execution.balances
    swap_lamports = (
        balances.lamports_delta(maker.address)
        + balances.fee
        + balances.tip
        + balances.token_accounts_lamports_delta(owner=maker.address)
    )
    tokens = balances.token_delta(owner=maker.address, mint=mint)
    if side == Side.BUY:
        sol_in, sol_out, token_in, token_out = -swap_lamports, 0, 0, tokens
    else:
        sol_in, sol_out, token_in, token_out = 0, swap_lamports, -tokens, 0
    ledger, _ = _ledger_rows(
        execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE, wallets=[maker],
        mint=mint,
    )  # fmt: skip
    trade = TradeWrite(
        execution=execution,
        ledger=ledger,
        amounts={"sol_in_lamports": sol_in, "sol_out_lamports": sol_out, "token_in_raw": token_in,
                 "token_out_raw": token_out, "tip_lamports": balances.tip},
        totals={"trades_total": 1, "trades_succeeded": 1, "volume_lamports": abs(swap_lamports),
                "fees_lamports": balances.fee, "tips_lamports": balances.tip},
    )  # fmt: skip

    return Done(
        result={"signature": execution.signature, "sol_lamports": abs(swap_lamports),
                "token_raw": abs(tokens)},
        write=lambda: _trade_writes([trade]),
        trade=trade,
        event={"side": side, "signature": execution.signature, "sol_lamports": abs(swap_lamports),
               "token_raw": abs(tokens), "fee_lamports": balances.fee, "tip_lamports": balances.tip,
               "wallet": maker.address},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# trades in batches


def batchable(params: Params) -> bool:
    """Trades of a live legacy run go out in batches (dry runs and Jito bundles one by one)."""
    return params.mode != DRY_RUN and params.execution_mode != JITO


def trades_enqueue(jobs: list[Job], *, batch: bool) -> None:
    """Send the tasks of a window's new trade jobs on commit: one `trades` task per slice
    (`trade_slices`) at its last trade's time, so none goes early, even a slice of one (a
    batch may take other runs' trades along); one task per trade when not batched."""
    if not batch:
        for job in jobs:
            job_enqueue(job=job)
        return
    for part in trade_slices(jobs):
        ids, eta = [job.pk for job in part], part[-1].scheduled_for
        transaction.on_commit(lambda ids=ids, eta=eta: _send_trades(ids, eta=eta))


def _send_trades(job_ids: list[int], *, retries: int = 0, **options: Any) -> None:
    """Send a `trades` task (on the `trade.buy` queue, whatever the trades' sides)."""
    from apps.execution.tasks import trades

    trades.apply_async((job_ids, retries), queue="trade.buy", **options)


def trade_slices(jobs: list[Job]) -> list[list[Job]]:
    """Consecutive trades (by time) of distinct maker wallets due within
    `EXECUTION_BATCH_SPREAD_MS` of the slice's first, at most `EXECUTION_BATCH_MAX` each."""
    spread = timedelta(milliseconds=settings.EXECUTION_BATCH_SPREAD_MS)
    slices: list[list[Job]] = []
    for job in sorted(jobs, key=lambda job: (job.scheduled_for, job.pk)):
        current = slices[-1] if slices else []
        if (
            current
            and len(current) < settings.EXECUTION_BATCH_MAX
            and job.scheduled_for - current[0].scheduled_for <= spread
            and job.payload["wallet_id"] not in {j.payload["wallet_id"] for j in current}
        ):
            current.append(job)
        else:
            slices.append([job])
    return slices


def trades_execute(*, job_ids: list[int], retries: int = 0) -> None:
    """Run a slice of trades together (the `trades` task): one lock statement and one claim
    for all, each pool's state and a blockhash read once, every Execution row committed before
    any send, the sends at once and one status poll for all.

    A slice is one run's, planned together; the batch fills up (to `EXECUTION_BATCH_MAX`) with
    trades of other runs on the same network that are due already and first in line for their
    maker wallet (`_lock_due_trades`). So the per-batch work is shared by many trades when the
    workers are behind, and their own tasks find them done.

    Only fresh trades of a running live legacy run are taken. Those of the slice whose maker
    wallet is busy (its previous trade still confirming) come back as one batch a moment
    later, up to `EXECUTION_BATCH_RETRIES` times; those another worker holds, once it lets them
    go. Any other one, and any the batch cannot finish cleanly (a transient error, a
    transaction not confirmed in time), goes to its own task: the single-job path
    (`job_execute`), which resolves whatever the batch left in flight by its signature. A
    trade of another run the batch cannot take is left to its own task as it is."""
    handed: list[Job] = []
    later: list[Job] = []
    held_elsewhere: list[int] = []
    try:
        _trades_locked(
            job_ids, retries=retries, handed=handed, later=later, held_elsewhere=held_elsewhere
        )
    finally:
        # Locks released: the single-job tasks and the next batch can take these jobs now.
        for job in handed:
            job_enqueue(job=job, countdown_s=0)
        if later:
            _send_trades([job.pk for job in later], retries=retries + 1, countdown=_BUSY_RETRY_S)
        if held_elsewhere:
            _send_trades(held_elsewhere, retries=retries, countdown=_HELD_RETRY_S)


def _trades_locked(
    job_ids: list[int], *, retries: int, handed: list[Job], later: list[Job],
    held_elsewhere: list[int],
) -> None:  # fmt: skip
    """`trades_execute` under the job locks: fills `handed` (for their own tasks), `later`
    (for the next batch) and `held_elsewhere` (still queued, but another worker held them)."""
    with contextlib.ExitStack() as locks:
        queued = _lock_queued_trades(job_ids)
        own = {pk for pk, (_, locked) in queued.items() if locked}
        locks.callback(_advisory_unlock, _JOB_LOCK, list(own))
        # Taken by another worker's batch, which leaves alone the ones it cannot send.
        held_elsewhere += [pk for pk, (_, locked) in queued.items() if not locked]
        if not own:
            return
        network = queued[next(iter(own))][0]
        others = _lock_due_trades(
            network=network, limit=settings.EXECUTION_BATCH_MAX - len(own), exclude=job_ids
        )
        locks.callback(_advisory_unlock, _JOB_LOCK, others)
        jobs = _queued_trades([*own, *others])
        fresh, params = [], _params_by_run(jobs)
        # The slice's own trades first: one the batch cannot take goes to its own task.
        for job in (job for job in jobs if job.pk in own):
            (fresh if _batch_takes(job, fresh=fresh, params=params) else handed).append(job)
        # Another run's trade the batch cannot take is left as it is to its own task.
        fresh += [
            job
            for job in jobs
            if job.pk not in own and _batch_takes(job, fresh=fresh, params=params)
        ]
        wallets = locks.enter_context(
            advisory_locks(_WALLET_LOCK, [job.payload["wallet_id"] for job in fresh])
        )
        busy = [job for job in fresh if job.pk in own and job.payload["wallet_id"] not in wallets]
        (later if retries < settings.EXECUTION_BATCH_RETRIES else handed).extend(busy)
        claimed = _claim_many([job for job in fresh if job.payload["wallet_id"] in wallets])
        try:
            handed += _trade_batch(claimed, params=params)
        except BaseException:
            # A bug: nothing claimed stays `processing` under a live worker, and each job gets
            # its own task (which resolves what was sent by its signature).
            for job in claimed:
                _requeue(job, countdown_s=0, count_attempt=False)
            handed += claimed
            raise


def _lock_queued_trades(job_ids: list[int]) -> dict[int, tuple[str, bool]]:
    """The job locks of the queued trade jobs among `job_ids`, without waiting: {job id:
    (its campaign's network, whether the lock was taken)}; the caller releases them. One
    statement, so a task whose trades were all taken by other batches ends after it.

    In SQL: `OFFSET 0` keeps the lock out of the filter on status (a lock taken on a row the
    filter then drops would never be released)."""
    table, runs, campaigns = _table(Job), _table(CampaignRun), _table(Campaign)
    with connection.cursor() as cursor:
        cursor.execute(
            # Table names from the models' metadata, quoted; every value is a parameter.
            f"SELECT queued.id, queued.network, {_try_lock_sql('queued.id')} FROM ("  # noqa: S608
            f" SELECT job.id, campaign.network FROM {table} AS job"
            f" JOIN {runs} AS run ON run.id = job.run_id"
            f" JOIN {campaigns} AS campaign ON campaign.id = run.campaign_id"
            " WHERE job.id = ANY(%s) AND job.status = %s AND job.type = ANY(%s) OFFSET 0"
            ") AS queued",
            [_JOB_LOCK, job_ids, Job.Status.QUEUED, list(TRADE_TYPES)],
        )
        return {pk: (network, locked) for pk, network, locked in cursor.fetchall()}


def _queued_trades(ids: list[int]) -> list[Job]:
    """The queued trade jobs among `ids` (which the caller holds the locks of), in time order,
    each with `tried`: whether an earlier attempt of it exists (it is resolved on the
    single-job path)."""
    if not ids:
        return []
    return list(
        Job.objects.select_related("run__campaign__token", "run__campaign__pool")
        .filter(pk__in=ids, status=Job.Status.QUEUED, type__in=TRADE_TYPES)
        .annotate(tried=Exists(Execution.objects.filter(job_id=OuterRef("pk"))))
        .order_by("scheduled_for", "pk")
    )


def _params_by_run(jobs: list[Job]) -> dict[int, Params]:
    return {run.pk: _params(run) for run in {job.run_id: job.run for job in jobs}.values()}


def _batch_takes(job: Job, *, fresh: list[Job], params: dict[int, Params]) -> bool:
    """Whether a batch holding `fresh` takes `job`: a never-tried trade of a running live
    legacy run, whose maker wallet has no trade in the batch yet."""
    run = job.run
    return (
        run.status == RunStatus.RUNNING and batchable(params[run.pk]) and not job.tried
        and job.payload["wallet_id"] not in {other.payload["wallet_id"] for other in fresh}
    )  # fmt: skip


def _lock_due_trades(*, network: str, limit: int, exclude: list[int]) -> list[int]:
    """Up to `limit` queued trade jobs of running runs on `network` that are due now, the most
    overdue first, with their job locks (`advisory_lock`) taken for the caller to release.
    Each is its maker wallet's next one (the wallet's first live trade job in the planner's
    order, which is the jobs' creation order), so a maker's trades keep their order and a busy
    wallet is not taken, and none was tried before. Jobs another worker holds are passed over,
    so concurrent batches take different ones.

    In SQL: `DISTINCT ON` over the live jobs' partial index (the ORM has no `DISTINCT ON`
    over an expression), and the locks taken by the outer query's filter, row by row until it
    has `limit` (the inner LIMIT keeps the filter out of the candidates' query)."""
    if limit <= 0:
        return []
    table, runs, campaigns = _table(Job), _table(CampaignRun), _table(Campaign)
    executions = _table(Execution)
    with connection.cursor() as cursor:
        cursor.execute(
            # Table names from the models' metadata, quoted; every value is a parameter.
            "SELECT due.id FROM (SELECT first.id FROM ("  # noqa: S608
            " SELECT DISTINCT ON (job.run_id, job.payload->>'wallet_id')"
            "  job.id, job.run_id, job.status, job.scheduled_for"
            f" FROM {table} AS job WHERE job.status = ANY(%s) AND job.type = ANY(%s)"
            "  ORDER BY job.run_id, job.payload->>'wallet_id', job.id"
            ") AS first"
            f" JOIN {runs} AS run ON run.id = first.run_id"
            f" JOIN {campaigns} AS campaign ON campaign.id = run.campaign_id"
            " WHERE first.status = %s AND first.scheduled_for <= %s AND run.status = %s"
            "  AND campaign.network = %s"
            # `batchable` (the caller checks it too): keeps dry runs' and Jito runs' due
            # trades, which a batch never takes, from crowding out the others.
            "  AND campaign.params->>'mode' IS DISTINCT FROM %s"
            "  AND campaign.params->>'execution_mode' IS DISTINCT FROM %s"
            "  AND NOT first.id = ANY(%s)"
            f" AND NOT EXISTS (SELECT 1 FROM {executions} AS e WHERE e.job_id = first.id)"
            " ORDER BY first.scheduled_for LIMIT %s) AS due"
            f" WHERE {_try_lock_sql('due.id')} LIMIT %s",
            [list(Job.LIVE), list(TRADE_TYPES), Job.Status.QUEUED, timezone.now(),
             RunStatus.RUNNING, network, DRY_RUN, JITO, exclude, 4 * limit, _JOB_LOCK, limit],
        )  # fmt: skip
        return [pk for (pk,) in cursor.fetchall()]


def _claim_many(jobs: list[Job]) -> list[Job]:
    """`_claim` for queued jobs the caller holds the locks of: the ones still queued."""
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
        _events([(job, "job_started", {}) for job in claimed if job.started_at is None])
        for job in claimed:
            job.status, job.attempts = Job.Status.PROCESSING, job.attempts + 1
            job.started_at = job.started_at or now
    return claimed


def _trade_batch(jobs: list[Job], *, params: dict[int, Params]) -> list[Job]:
    """Send the claimed `jobs` (fresh trades of running runs on one network, one per maker
    wallet; `params` by run id); finishes each one it can and returns the others, back in the
    queue, for their own tasks."""
    if not jobs:
        return []
    network = jobs[0].run.campaign.network
    makers = Wallet.objects.in_bulk([job.payload["wallet_id"] for job in jobs])
    # What each maker holds by the ledger (`ledger_lamports` and `ledger_tokens`, grouped).
    totals = (
        LedgerEntry.objects.filter(run_id__in={job.run_id for job in jobs}, wallet_id__in=makers)
        .values("run_id", "wallet_id", "mint")
        .annotate(lamports=Sum("lamports_delta"), tokens=Sum("token_delta_raw"))
    )
    lamports: dict[tuple[int, int], int] = {}
    tokens: dict[tuple[int, int, str], int] = {}
    for row in totals:
        key = (row["run_id"], row["wallet_id"])
        lamports[key] = lamports.get(key, 0) + int(row["lamports"] or 0)
        tokens[(*key, row["mint"])] = int(row["tokens"] or 0)
    sides, amounts, back = {}, {}, []
    for job in jobs:
        side = Side.BUY if job.type == Job.Type.TRADE_BUY else Side.SELL
        key = (job.run_id, job.payload["wallet_id"])
        have = (
            lamports.get(key, 0)
            if side == Side.BUY
            else tokens.get((*key, job.run.campaign.token.mint), 0)
        )
        amount = trade_amount(job, params=params[job.run_id], side=side, held=have)
        if amount <= 0:
            _succeeded(job, trade_skipped(side))
            continue
        sides[job.pk], amounts[job.pk] = side, amount
    jobs = [job for job in jobs if job.pk in amounts]
    if not jobs:
        return back

    def hand_back(job: Job) -> None:
        _requeue(job, countdown_s=0, count_attempt=False)
        back.append(job)

    rpc = rpc_pool(network)
    pools = {job.run.campaign.pool_id: job.run.campaign for job in jobs}
    # Keys are decrypted only inside this block and dropped when it closes.
    with wallet_signers(makers[job.payload["wallet_id"]] for job in jobs) as by_wallet:
        signers = {job.pk: by_wallet[job.payload["wallet_id"]] for job in jobs}

        async def build_all() -> tuple[dict, list]:
            # Each pool's state once, and the blockhash, at the same time.
            *states, recent = await asyncio.gather(
                *(
                    _pool_state(rpc, pool_dex=campaign.pool.dex,
                                pool_address=campaign.pool.address, mint=campaign.token.mint)
                    for campaign in pools.values()
                ),
                latest_blockhash(rpc=rpc),
            )  # fmt: skip
            state = dict(zip(pools, states, strict=True))
            specs = {
                job.pk: _trade_spec(
                    run=job.run, params=params[job.run_id], maker=makers[job.payload["wallet_id"]],
                    side=sides[job.pk], amount=amounts[job.pk],
                    pool_state=state[job.run.campaign.pool_id],
                )
                for job in jobs
            }  # fmt: skip
            built = await build_many(
                rpc=rpc, items=[(specs[job.pk], signers[job.pk], []) for job in jobs],
                recent=recent,
            )  # fmt: skip
            return specs, built

        try:
            specs, built = run_sync(build_all())
        except (TransientRpcError, ChainError, ChainUnavailable):
            for job in jobs:
                hand_back(job)  # the single-job path retries, or fails it with the reason
            return back
    executions: dict[int, Execution] = {}
    for job, outcome in zip(jobs, built, strict=True):
        if isinstance(outcome, TransactionRejected | DexError | PermanentRpcError):
            _failed(job, build_failed(outcome))
        elif isinstance(outcome, BaseException):
            logger.warning("trade handed to its own task", exc_info=outcome)
            hand_back(job)
        else:
            execution = new_execution(job=job, spec=specs[job.pk], built=outcome, attempt=1)
            executions[job.pk] = execution
    if not executions:
        return back
    # Committed (autocommit) before the sends: a crash from here on is resolved by signature.
    Execution.objects.bulk_create(executions.values())
    started = time.monotonic()
    by_job = {job.pk: job for job in jobs}
    sending = list(executions.values())

    requests = [
        send_request(bytes(e.raw_transaction), preflight=wants_preflight(specs[e.job_id]))
        for e in sending
    ]
    try:
        results = run_sync(send_many(rpc=rpc, requests=requests))
    except (TransientRpcError, PermanentRpcError, ChainUnavailable) as error:
        results = [error] * len(sending)
    sent = []
    for execution, result in zip(sending, results, strict=True):
        if isinstance(result, TransactionRejected):
            _failed(by_job[execution.job_id], rejected(execution, result))
        elif isinstance(result, BaseException):
            hand_back(by_job[execution.job_id])  # it may have reached the node: resolved later
        else:
            sent.append(execution)
    if not sent:
        return back
    Execution.objects.filter(pk__in=[e.pk for e in sent], status=Execution.Status.SIGNED).update(
        status=Execution.Status.SENT
    )
    signatures = {e.pk: Signature.from_string(e.signature) for e in sent}
    try:
        landed = run_sync(
            await_landings(
                rpc=rpc,
                signatures=list(signatures.values()),
                last_valid_block_height=min(e.last_valid_block_height for e in sent),
                give_up_s=settings.EXECUTION_BATCH_CONFIRM_S,
            )
        )
    except (TransientRpcError, ChainUnavailable):
        landed = set()  # not known yet: each is resolved by its signature on its own task
    confirmed = [e for e in sent if signatures[e.pk] in landed]
    try:
        balances = run_sync(
            transactions_balances(rpc=rpc, signatures=[signatures[e.pk] for e in confirmed])
        )
    except (TransientRpcError, PermanentRpcError, ChainUnavailable):
        balances = [None] * len(confirmed)  # each is read again on its own task
    recorded = []
    for execution, found in zip(confirmed, balances, strict=True):
        if isinstance(found, TxBalances):
            execution.fresh = True  # sent by this batch under the job's lock: no ledger yet
            recorded.append(record_landed(execution, found, started=started))
    update_rows(recorded, LANDED_FIELDS)
    succeeded = []
    for execution in recorded:
        job = by_job[execution.job_id]
        maker = makers[job.payload["wallet_id"]]
        try:
            succeeded.append(
                (job, trade_done(execution, run=job.run, maker=maker, side=sides[job.pk]))
            )
        except JobFailed as failure:  # landed with an error: the fee is charged, nothing else
            _failed(job, failure)
    _stop_when_reached(_succeeded_many(succeeded), params=params)
    finished = {execution.job_id for execution in recorded}
    for execution in sent:
        if execution.job_id not in finished:
            # Not confirmed before its blockhash expired, or not served yet: resolved by its
            # signature on the single-job path (expired → a new transaction).
            hand_back(by_job[execution.job_id])
    return back


def _trade_writes(writes: list[TradeWrite]) -> list[CampaignRun]:
    """Write landed trades (inside their jobs' completion transaction): one INSERT of all
    their ledger rows, one UPDATE of their executions, one UPDATE adding to their runs'
    totals. A trade whose rows exist already (its outcome replayed after a crash) is left as
    it is. Returns the runs written to, with their status and totals as updated (for
    `_stop_when_reached`)."""
    writes = [write for write in writes if not _already_written(write.execution)]
    if not writes:
        return []
    LedgerEntry.objects.bulk_create(
        [row for w in writes for row in w.ledger], ignore_conflicts=True
    )
    for write in writes:
        for name, value in write.amounts.items():
            setattr(write.execution, name, value)
    update_rows([w.execution for w in writes], list(writes[0].amounts))
    runs: dict[int, dict[str, int]] = {}
    for write in writes:
        totals = runs.setdefault(write.execution.run_id, dict.fromkeys(write.totals, 0))
        for name, value in write.totals.items():
            totals[name] += value
    updated = add_to_rows(CampaignRun, runs, returning=_STOP_FIELDS)
    return [CampaignRun(pk=run_id, **row) for run_id, row in updated.items()]


def _simulated_tokens(*, run_id: int, wallet_id: int) -> int:
    """What a maker would hold in a dry run: tokens of its simulated buys less its sells."""
    rows = Execution.objects.filter(
        run_id=run_id, wallet_id=wallet_id, status=Execution.Status.SIMULATED
    ).aggregate(bought=Sum("token_out_raw"), sold=Sum("token_in_raw"))
    return int((rows["bought"] or 0) - (rows["sold"] or 0))


def _trade_dry(job: Job, *, run, params: Params, maker: Wallet, side: str) -> Done:
    """dry_run: quote, build, sign and simulate the trade, record it (status `simulated`),
    send nothing. Makers hold nothing in a dry run, so the funding wallet is the simulated
    trader; a sell is simulated when the funding wallet holds the tokens, else only quoted
    (the execution's error says so)."""
    funding = run.campaign.funding_wallet
    rpc = rpc_pool(run.campaign.network)
    if side == Side.BUY:
        amount = int(job.payload["lamports"])
    else:
        amount = _simulated_tokens(run_id=run.pk, wallet_id=maker.pk)
        if amount <= 0:
            return Done(result={"skipped": "nothing to sell"})
    quotes: list = []
    spec = _trade_spec(
        run=run, params=params, maker=funding, side=side, amount=amount, quotes=quotes
    )
    note = None
    try:
        build_signed(spec=spec, rpc=rpc)
    except TransactionRejected as error:
        note = f"simulation failed: {error.err or error}"
    except (DexError, PermanentRpcError) as error:
        raise JobFailed(f"The trade cannot be made: {error}", code="venue") from None
    if not quotes:
        raise JobFailed("The trade could not be quoted.", code="venue")
    quote = quotes[-1]
    if note is not None and side == Side.BUY:
        raise JobFailed(f"The simulated trade fails: {note}", code="simulation_failed")
    buy = side == Side.BUY

    def write() -> None:
        Execution.objects.create(
            job=job, run_id=run.pk, attempt=1, status=Execution.Status.SIMULATED,
            side=Execution.Side.BUY if buy else Execution.Side.SELL, wallet=maker,
            sol_in_lamports=quote.amount_in if buy else 0,
            sol_out_lamports=0 if buy else quote.amount_out,
            token_in_raw=0 if buy else quote.amount_in,
            token_out_raw=quote.amount_out if buy else 0,
            error=None if note is None else {"note": note[:300]},
        )  # fmt: skip
        CampaignRun.objects.filter(pk=run.pk).update(
            trades_total=F("trades_total") + 1,
            trades_succeeded=F("trades_succeeded") + 1,
            volume_lamports=F("volume_lamports") + (quote.amount_in if buy else quote.amount_out),
        )

    sol = quote.amount_in if buy else quote.amount_out
    return Done(
        result={"simulated": True, "sol_lamports": sol, "token_raw": quote.amount_out
                if buy else quote.amount_in},
        write=write, event={"side": side, "simulated": True, "sol_lamports": sol},
    )  # fmt: skip


def _count_trade_failure(job: Job) -> None:
    CampaignRun.objects.filter(pk=job.run_id).update(
        trades_total=F("trades_total") + 1, trades_failed=F("trades_failed") + 1
    )


def _circuit_breaker(job: Job) -> None:
    from apps.campaigns.services import campaign_pause

    since = (
        CampaignRun.objects.values_list("summary", flat=True)
        .get(pk=job.run_id)
        .get("breaker_since")
    )
    jobs = Job.objects.filter(
        run_id=job.run_id, type__in=TRADE_TYPES,
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
        _summary_update_outside(run.pk, breaker=reason)
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
        campaign = run.campaign
        alert_raise(
            kind=Alert.Kind.CIRCUIT_BREAKER, user=campaign.owner, campaign=campaign, message=reason
        )


def _summary_update_outside(run_id: int, **values: Any) -> None:
    with transaction.atomic():
        _summary_update(run_id, **values)


# ---------------------------------------------------------------------------------------------
# funds.gather


def _funds_gather(job: Job) -> Done:
    sequence = job.idempotency_key.rsplit(":", 1)[1]
    if sequence == "0":
        return _gather_start(job)
    if sequence == "finish":
        return _gather_finish(job)
    step, wallet_id = sequence.split("-")
    maker = Wallet.objects.get(pk=int(wallet_id), run_id=job.run_id)
    # Wallet lock: a trade still resolving its transaction finishes before the sell/sweep.
    with advisory_lock(_WALLET_LOCK, maker.pk) as held:
        if not held:
            raise NotYet("the maker wallet has a transaction in flight", countdown_s=0.3)
        if step == "sell":
            return _gather_sell(job, maker=maker)
        return _gather_sweep(job, maker=maker)


def _gather_start(job: Job) -> Done:
    run = job.run
    # Trades and planner windows not yet started never will: cancel them.
    # A queued job with an execution may have a transaction in flight: it must resolve it.
    Job.objects.filter(
        run=run,
        type__in=[*TRADE_TYPES, Job.Type.PLAN],
        status=Job.Status.QUEUED,
        executions__isnull=True,
    ).update(status=Job.Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())
    if Job.objects.filter(run=run, type__in=TRADE_TYPES, status__in=Job.LIVE).exists():
        raise NotYet("trades are still in flight", countdown_s=0.5)
    if Job.objects.filter(run=run, type=Job.Type.DISTRIBUTE, status__in=Job.LIVE).exists():
        raise NotYet("the distribution is still running", countdown_s=0.5)
    makers = _makers(run)

    def write() -> None:
        for maker in makers:
            job_create(run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence=f"sell-{maker.pk}")
        if not makers:
            job_create(run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence="finish")

    return Done(result={"makers": len(makers)}, write=write)


def _gather_sell(job: Job, *, maker: Wallet) -> Done:
    run = job.run
    params = _params(run)
    funding = run.campaign.funding_wallet
    mint = run.campaign.token.mint
    tokens = ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint)

    def next_step() -> None:
        job_create(run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence=f"sweep-{maker.pk}")

    if tokens <= 0 and not job.executions.exists():
        return Done(result={"skipped": "nothing to sell"}, write=next_step)
    # The funding wallet pays the fee, so the maker's SOL all comes back.
    spec = _trade_spec(
        run=run, params=params, maker=maker, side=Side.SELL, amount=tokens, payer=funding
    )
    execution = send_once(job=job, network=run.campaign.network, spec=spec)
    if execution.status != Execution.Status.LANDED:
        raise _failed_landed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not _already_written(execution):
            deltas = _ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE,
                wallets=[funding, maker], mint=mint,
            )  # fmt: skip
            swap = deltas[maker.pk] + balances.token_accounts_lamports_delta(owner=maker.address)
            tokens_sold = -balances.token_delta(owner=maker.address, mint=mint)
            Execution.objects.filter(pk=execution.pk).update(
                sol_out_lamports=swap, token_in_raw=tokens_sold
            )
            CampaignRun.objects.filter(pk=run.pk).update(
                volume_lamports=F("volume_lamports") + swap,
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        next_step()

    return Done(result={"signature": execution.signature}, write=write,
                event={"side": "sell", "signature": execution.signature})  # fmt: skip


def _gather_sweep(job: Job, *, maker: Wallet) -> Done:
    run = job.run
    params = _params(run)
    funding = run.campaign.funding_wallet
    owner, destination = Pubkey.from_string(maker.address), Pubkey.from_string(funding.address)
    network = run.campaign.network

    def finish_step() -> None:
        # Row lock on the run: concurrent sweeps agree on which one is last.
        CampaignRun.objects.select_for_update().filter(pk=run.pk).first()
        makers = Wallet.objects.filter(run_id=run.pk, kind=Wallet.Kind.MAKER).count()
        swept = (
            Job.objects.filter(
                run=run,
                type=Job.Type.FUNDS_GATHER,
                idempotency_key__contains=":sweep-",
                status=Job.Status.SUCCEEDED,
            )
            .exclude(pk=job.pk)
            .count()
        )
        if swept + 1 >= makers:
            job_create(run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence="finish")

    async def instructions(rpc) -> list:
        balance = (await rpc.call("getBalance", lambda c: c.get_balance(owner))).value
        accounts = await rpc.call(
            "getTokenAccountsByOwner",
            lambda c: c.get_token_accounts_by_owner(
                owner, TokenAccountOpts(program_id=spl.TOKEN_PROGRAM_ID)
            ),
        )
        out = []
        for keyed in accounts.value:
            state = spl.decode_token_account(bytes(keyed.account.data))
            if state.amount != 0:
                raise JobFailed(
                    f"Maker {maker.address} still holds {state.amount} raw tokens.",
                    code="tokens_left",
                )
            out.append(spl.close_account(account=keyed.pubkey, destination=destination,
                                         owner=owner))  # fmt: skip
        if balance:
            out.append(spl.sol_transfer(source=owner, destination=destination, lamports=balance))
        return out

    if not job.executions.exists():
        probe = run_sync(instructions(rpc_pool(network)))
        if not probe:
            return Done(result={"skipped": "nothing left"}, write=finish_step)
    execution = send_once(
        job=job, network=network,
        spec=TxSpec(
            payer=funding, signers=[maker], wallet=maker, side=Execution.Side.TRANSFER,
            instructions=instructions, fee_policy=_fee_policy(params),
            compute_unit_limit=20_000,
        ),
    )  # fmt: skip
    if execution.status != Execution.Status.LANDED:
        raise _failed_landed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not _already_written(execution):
            deltas = _ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.GATHER,
                wallets=[funding, maker],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=run.pk).update(
                gathered_lamports=F("gathered_lamports") + deltas[funding.pk],
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        finish_step()

    return Done(result={"signature": execution.signature}, write=write)


def _gather_finish(job: Job) -> Done:
    from apps.campaigns.services import campaign_complete, campaign_finish

    run = job.run
    makers = _makers(run)
    left = {
        m.address: lamports
        for m in makers
        if (lamports := ledger_lamports(run_id=run.pk, wallet_id=m.pk)) != 0
    }
    moved = (
        LedgerEntry.objects.filter(run=run)
        .exclude(kind__in=[LedgerEntry.Kind.FEE, LedgerEntry.Kind.TIP])
        .aggregate(total=Sum("lamports_delta"))["total"]
        or 0
    )
    with transaction.atomic():
        # Price impact (venue fees included): what left the run's wallets other than as fees.
        CampaignRun.objects.filter(pk=run.pk).update(price_impact_lamports=-int(moved))
        _summary_update(run.pk, left_in_makers=left)
    if left:
        raise JobFailed(
            f"{len(left)} maker wallets still hold lamports after the gather.", code="left"
        )
    # Keep why the run stopped (target, pre-flight, the user's reason) in front.
    why = run.campaign.status_reason.rstrip(".")
    reason = f"{why}; funds gathered." if why else "Funds gathered."
    end = campaign_complete if run.summary.get("completed") else campaign_finish

    def write() -> None:
        # In the job's completion transaction: the run ends exactly when this job succeeds
        # (lock order job → campaign → run; nothing locks them the other way round).
        end(campaign_id=run.campaign_id, reason=reason[:280])

    return Done(result={"finished": True}, write=write)


HANDLERS: dict[str, Callable[[Job], Done]] = {
    Job.Type.DISTRIBUTE: _distribute,
    Job.Type.GATHER: _preflight,
    Job.Type.PLAN: _plan,
    Job.Type.TRADE_BUY: _trade,
    Job.Type.TRADE_SELL: _trade,
    Job.Type.FUNDS_GATHER: _funds_gather,
}


# ---------------------------------------------------------------------------------------------
# Stuck jobs (status beat)


def jobs_redrive_stuck(*, older_than_s: float = 30.0) -> int:
    """Re-send the task of live jobs nobody is working on: queued past their time (a lost
    message) or processing with no worker holding their lock (a dead worker). Safe to repeat:
    a job runs only under its lock and resolves earlier transactions first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stale = Job.objects.filter(
        Q(status=Job.Status.QUEUED) & (Q(scheduled_for__isnull=True) | Q(scheduled_for__lt=cutoff))
        | Q(status=Job.Status.PROCESSING),
        updated_at__lt=cutoff,
    ).only("pk", "queue", "type", "scheduled_for")
    count = 0
    for job in stale[:500]:
        # Probing the job lock tells a dead worker's job from one a live worker holds.
        with advisory_lock(_JOB_LOCK, job.pk) as free:
            if not free:
                continue  # a worker holds it: not stuck
        with transaction.atomic():
            job.scheduled_for = None
            job_enqueue(job=job, countdown_s=0)
        count += 1
    return count


# ---------------------------------------------------------------------------------------------
# status (beat): stats, stuck jobs; reconcile (beat): ledger = chain


def run_stats(*, run_id: int) -> dict:
    """The run's counters and job counts by status (what the `stats` event carries)."""
    run = CampaignRun.objects.get(pk=run_id)
    jobs: dict[str, int] = {}
    for status, count in (
        Job.objects.filter(run_id=run_id).values_list("status").annotate(n=Count("id"))
    ):
        jobs[status] = count
    return {
        "run_id": run.pk, "status": run.status, "volume_lamports": run.volume_lamports,
        "trades_total": run.trades_total, "trades_succeeded": run.trades_succeeded,
        "trades_failed": run.trades_failed, "fees_lamports": run.fees_lamports,
        "tips_lamports": run.tips_lamports, "funded_lamports": run.funded_lamports,
        "gathered_lamports": run.gathered_lamports, "success_rate_bps": run.success_rate_bps,
        "jobs": jobs,
    }  # fmt: skip


def runs_status_tick() -> dict:
    """Beat, every few seconds: publish `stats` for every live run (and keep it in the run's
    summary), then re-send the tasks of stuck jobs."""
    live = CampaignRun.objects.filter(
        status__in=[RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
    ).values_list("pk", "campaign_id", "campaign__owner_id")
    for run_id, campaign_id, owner_id in live:
        stats = run_stats(run_id=run_id)
        with transaction.atomic():
            _summary_update(run_id, stats_at=timezone.now().isoformat(), jobs=stats["jobs"])
            _group_send_on_commit(
                [
                    (
                        f"campaign.{campaign_id}",
                        {
                            "type": "campaign.event",
                            "event": "stats",
                            "campaign_id": campaign_id,
                            **stats,
                        },
                    )
                ]
            )
            events.emit(
                event_type="run.stats", user_id=owner_id,
                data={"campaign_id": campaign_id, "run_id": run_id, **stats},
            )  # fmt: skip
    for run in CampaignRun.objects.filter(status=RunStatus.RUNNING).select_related(
        "campaign__funding_wallet", "campaign__owner"
    ):
        _funding_balance_check(run)
    return {"runs": len(live), "redriven": jobs_redrive_stuck()}


def _funding_balance_check(run: CampaignRun) -> None:
    """Alert the owner (and operators) when the funding wallet can no longer pay the gather's
    fees: the makers could not all be swept back."""
    campaign = run.campaign
    needed = setup_fees(Params.from_json(campaign.params))[1]
    try:
        held = wallet_lamports(wallet=campaign.funding_wallet, network=campaign.network)
    except ChainUnavailable:
        return  # the next tick reads it again
    if held < needed:
        alert_raise(
            kind=Alert.Kind.LOW_BALANCE, user=campaign.owner, campaign=campaign,
            message=f"The funding wallet holds {format_sol_trimmed(held)} SOL; sweeping the makers "
            f"back needs {format_sol_trimmed(needed)} SOL of fees. Top it up.",
        )  # fmt: skip


def _chain_holdings(*, network: str, addresses: list[str], mint: str) -> dict[str, tuple]:
    """address → (lamports, raw tokens of `mint`) read from the chain."""

    async def read(rpc) -> dict[str, tuple]:
        keys = [Pubkey.from_string(a) for a in addresses]
        accounts = (
            await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
        ).value
        out = {}
        for address, key, account in zip(addresses, keys, accounts, strict=True):
            tokens = await rpc.call(
                "getTokenAccountsByOwner",
                lambda c, key=key: c.get_token_accounts_by_owner(
                    key, TokenAccountOpts(program_id=spl.TOKEN_PROGRAM_ID)
                ),
            )
            raw = sum(
                state.amount
                for keyed in tokens.value
                if str((state := spl.decode_token_account(bytes(keyed.account.data))).mint) == mint
            )
            out[address] = (account.lamports if account is not None else 0, raw)
        return out

    return run_sync(read(rpc_pool(network)))


def run_reconcile(*, run_id: int) -> list[dict]:
    """Compare every maker wallet's ledger balance (lamports and tokens) with the chain; a
    mismatch pauses the run (safety mode) with the difference recorded and audited. Wallets
    with a job in progress are skipped: their ledger rows are being written right now."""
    from apps.campaigns.services import campaign_pause
    from apps.core.services import audit_log

    run = CampaignRun.objects.select_related("campaign__token").get(pk=run_id)
    mint = run.campaign.token.mint
    makers = _makers(run)
    busy = set()
    for job in Job.objects.filter(run=run, status__in=Job.LIVE).only("payload", "idempotency_key"):
        if "wallet_id" in job.payload:
            busy.add(int(job.payload["wallet_id"]))
        if ":sell-" in job.idempotency_key or ":sweep-" in job.idempotency_key:
            busy.add(int(job.idempotency_key.rsplit("-", 1)[1]))
    makers = [m for m in makers if m.pk not in busy]
    if not makers:
        return []
    chain = _chain_holdings(
        network=run.campaign.network, addresses=[m.address for m in makers], mint=mint
    )
    mismatches = []
    for maker in makers:
        ledger = (
            ledger_lamports(run_id=run.pk, wallet_id=maker.pk),
            ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint),
        )
        if ledger != chain[maker.address]:
            mismatches.append(
                {"wallet": maker.address, "ledger": list(ledger),
                 "chain": list(chain[maker.address])}
            )  # fmt: skip
    if mismatches:
        reason = f"Safety mode: the ledger differs from the chain for {len(mismatches)} wallet(s)."
        with transaction.atomic():
            _summary_update(run.pk, reconcile_mismatches=mismatches)
            audit_log(
                actor=None, action="run.reconcile_mismatch", entity="run", entity_id=run.pk,
                metadata={"mismatches": mismatches},
            )  # fmt: skip
            alert_raise(
                kind=Alert.Kind.RECONCILE_MISMATCH, user=run.campaign.owner,
                campaign=run.campaign, message=reason,
            )  # fmt: skip
        logger.error("reconcile mismatch", extra={"run_id": run.pk, "mismatches": mismatches})
        if run.status == RunStatus.RUNNING:
            campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
    return mismatches


def runs_reconcile() -> dict:
    """Beat: reconcile every running run."""
    paused = 0
    for run_id in CampaignRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True):
        if run_reconcile(run_id=run_id):
            paused += 1
    return {"paused": paused}
