"""Step `trades`: a planner slice of trades sent together (`trades_execute`). This module takes
the locks and picks the jobs (the slice's own, and other runs' trades already due); the
sending of the claimed jobs is `steps.batch_send`.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.campaigns.domain import Params
from apps.campaigns.models import Campaign, CampaignRun, RunStatus
from apps.core.locking import JOB_LOCK, WALLET_LOCK, advisory_locks, advisory_unlock, try_lock_sql
from apps.core.sql import table_name
from apps.execution.jobs import HELD_RETRY_S, job_enqueue, job_requeue, jobs_claim, trades_send
from apps.execution.models import Execution, Job
from apps.execution.steps.batch_send import batch_send
from apps.execution.steps.bundle_send import bundle_send
from apps.execution.trading import DRY_RUN, JITO, batchable, params_by_run

BUSY_RETRY_S = 0.25  # when a batch finds a maker wallet busy, it tries that trade again


def trades_execute(*, job_ids: list[int], retries: int = 0) -> None:
    """Run a slice of trades together (the `trades` task): one lock statement and one claim
    for all, each pool's state and a blockhash read once, every Execution row committed before
    any send, the sends at once and one status poll for all.

    A slice is one run's, planned together; the batch fills up (to `EXECUTION_BATCH_MAX`) with
    trades of other runs on the same network that are due already and first in line for their
    maker wallet (`_lock_due_trades`). So the per-batch work is shared by many trades when the
    workers are behind, and their own tasks find them done.

    Only fresh trades of a running live run are taken; a Jito run's go out as bundles
    (`steps.bundle_send`), the others as one batch. Those of the slice whose maker
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
            trades_send([job.pk for job in later], retries=retries + 1, countdown=BUSY_RETRY_S)
        if held_elsewhere:
            trades_send(held_elsewhere, retries=retries, countdown=HELD_RETRY_S)


def _trades_locked(
    job_ids: list[int], *, retries: int, handed: list[Job], later: list[Job],
    held_elsewhere: list[int],
) -> None:  # fmt: skip
    """`trades_execute` under the job locks: fills `handed` (for their own tasks), `later`
    (for the next batch) and `held_elsewhere` (still queued, but another worker held them)."""
    with contextlib.ExitStack() as locks:
        queued = _lock_queued_trades(job_ids)
        own = {pk for pk, (_, locked) in queued.items() if locked}
        locks.callback(advisory_unlock, JOB_LOCK, list(own))
        # Taken by another worker's batch, which leaves alone the ones it cannot send.
        held_elsewhere += [pk for pk, (_, locked) in queued.items() if not locked]
        if not own:
            return
        network = queued[next(iter(own))][0]
        others = _lock_due_trades(
            network=network, limit=settings.EXECUTION_BATCH_MAX - len(own), exclude=job_ids
        )
        locks.callback(advisory_unlock, JOB_LOCK, others)
        jobs = _queued_trades([*own, *others])
        fresh, params = [], params_by_run(jobs)
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
            advisory_locks(WALLET_LOCK, [job.payload["wallet_id"] for job in fresh])
        )
        busy = [job for job in fresh if job.pk in own and job.payload["wallet_id"] not in wallets]
        (later if retries < settings.EXECUTION_BATCH_RETRIES else handed).extend(busy)
        claimed = jobs_claim([job for job in fresh if job.payload["wallet_id"] in wallets])
        try:
            jito = [job for job in claimed if params[job.run_id].execution_mode == JITO]
            handed += bundle_send(jito, params=params)
            handed += batch_send([job for job in claimed if job not in jito], params=params)
        except BaseException:
            # A bug: nothing claimed stays `processing` under a live worker, and each job gets
            # its own task (which resolves what was sent by its signature).
            for job in claimed:
                job_requeue(job, countdown_s=0, count_attempt=False)
            handed += claimed
            raise


def _lock_queued_trades(job_ids: list[int]) -> dict[int, tuple[str, bool]]:
    """The job locks of the queued trade jobs among `job_ids`, without waiting: {job id:
    (its campaign's network, whether the lock was taken)}; the caller releases them. One
    statement, so a task whose trades were all taken by other batches ends after it.

    In SQL: `OFFSET 0` keeps the lock out of the filter on status (a lock taken on a row the
    filter then drops would never be released)."""
    table, runs, campaigns = table_name(Job), table_name(CampaignRun), table_name(Campaign)
    with connection.cursor() as cursor:
        cursor.execute(
            # Table names from the models' metadata, quoted; every value is a parameter.
            f"SELECT queued.id, queued.network, {try_lock_sql('queued.id')} FROM ("  # noqa: S608
            f" SELECT job.id, campaign.network FROM {table} AS job"
            f" JOIN {runs} AS run ON run.id = job.run_id"
            f" JOIN {campaigns} AS campaign ON campaign.id = run.campaign_id"
            " WHERE job.id = ANY(%s) AND job.status = %s AND job.type = ANY(%s) OFFSET 0"
            ") AS queued",
            [JOB_LOCK, job_ids, Job.Status.QUEUED, list(Job.TRADE_TYPES)],
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
        .filter(pk__in=ids, status=Job.Status.QUEUED, type__in=Job.TRADE_TYPES)
        .annotate(tried=Exists(Execution.objects.filter(job_id=OuterRef("pk"))))
        .order_by("scheduled_for", "pk")
    )


def _batch_takes(job: Job, *, fresh: list[Job], params: dict[int, Params]) -> bool:
    """Whether a batch holding `fresh` takes `job`: a never-tried trade of a running live
    run, whose maker wallet has no trade in the batch yet (a Jito run's go as bundles)."""
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
    table, runs, campaigns = table_name(Job), table_name(CampaignRun), table_name(Campaign)
    executions = table_name(Execution)
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
            # Dry runs' due trades, which a batch never takes, and Jito runs', which go in
            # their own run's bundles, would crowd out the others.
            "  AND campaign.params->>'mode' IS DISTINCT FROM %s"
            "  AND campaign.params->>'execution_mode' IS DISTINCT FROM %s"
            "  AND NOT first.id = ANY(%s)"
            f" AND NOT EXISTS (SELECT 1 FROM {executions} AS e WHERE e.job_id = first.id)"
            " ORDER BY first.scheduled_for LIMIT %s) AS due"
            f" WHERE {try_lock_sql('due.id')} LIMIT %s",
            [list(Job.LIVE), list(Job.TRADE_TYPES), Job.Status.QUEUED, timezone.now(),
             RunStatus.RUNNING, network, DRY_RUN, JITO, exclude, 4 * limit, JOB_LOCK, limit],
        )  # fmt: skip
        return [pk for (pk,) in cursor.fetchall()]
