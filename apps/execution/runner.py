"""The runner: one job, as its Celery task calls it (`job_execute`).

Under the job's advisory lock (held while the job runs, network calls included; Postgres
releases it if the worker dies): claim the job, run its step's handler (`HANDLERS`, one module
of `steps/` per job type), then record the outcome (`outcomes`). A step says how its job ends
by what it returns or raises: `Done` (succeeded), `NotYet` (back to the queue without using an
attempt), `JobCancelled`, `JobFailed`; a transient chain error is retried with backoff until
the job is dead-lettered; anything else is a bug, dead-lettered and re-raised.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.chain.errors import TransientRpcError
from apps.core.chain import ChainUnavailable
from apps.core.locking import JOB_LOCK, advisory_lock
from apps.execution import domain
from apps.execution.jobs import (
    HELD_RETRY_S,
    JobCancelled,
    JobFailed,
    NotYet,
    job_claim,
    job_requeue,
)
from apps.execution.lifecycle import stop_if_done
from apps.execution.models import Job
from apps.execution.outcomes import Done, job_fail, job_failed, job_finish, job_succeeded
from apps.execution.steps import distribute, gather, plan, preflight, trade

HANDLERS: dict[str, Callable[[Job], Done]] = {
    Job.Type.DISTRIBUTE: distribute.execute,
    Job.Type.PREFLIGHT: preflight.execute,
    Job.Type.PLAN: plan.execute,
    Job.Type.TRADE_BUY: trade.execute,
    Job.Type.TRADE_SELL: trade.execute,
    Job.Type.FUNDS_GATHER: gather.execute,
}


def job_execute(*, job_id: int) -> float | None:
    """Run one job (called by its Celery task). Returns in how many seconds the task must run
    again (the job went back to `queued`), or None when there is nothing more to do."""
    # Job lock for the whole run of the job (network calls included, so not a row lock): two
    # deliveries of one task never work on the same job at once.
    with advisory_lock(JOB_LOCK, job_id) as held:
        if not held:
            # Another worker runs it right now (and re-queues it if needed), or one that has
            # just finished it still holds the lock while the job was re-driven (queued again):
            # a queued job is looked at again in a moment, so its task is not lost.
            queued = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).exists()
            return HELD_RETRY_S if queued else None
        job = job_claim(job_id)
        if job is None:
            return None
        try:
            done = HANDLERS[job.type](job)
        except NotYet as wait:
            job_requeue(job, countdown_s=wait.countdown_s, count_attempt=False)
            return wait.countdown_s
        except (TransientRpcError, ChainUnavailable) as error:
            if job.attempts >= domain.MAX_ATTEMPTS:
                job_fail(
                    job, status=Job.Status.DEAD, code="transient_exhausted", message=str(error)
                )
                return None
            countdown = domain.backoff_seconds(attempt=job.attempts)
            job_requeue(job, countdown_s=countdown, count_attempt=True)
            return countdown
        except JobCancelled as why:
            job_finish(job, status=Job.Status.CANCELLED, result={"cancelled": str(why)})
            return None
        except JobFailed as failure:
            job_failed(job, failure)
            return None
        except Exception as error:
            # A bug must not leave the job `processing` for ever: dead-letter it (visible and
            # re-drivable), then let Celery and Sentry see the exception.
            message = f"{type(error).__name__}: the engine failed; see the worker logs"
            job_fail(job, status=Job.Status.DEAD, code="internal_error", message=message)
            raise
        job_succeeded(job, done)
        if job.type in Job.TRADE_TYPES:
            stop_if_done(job.run_id)
        return None
