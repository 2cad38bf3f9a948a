"""Thin Celery tasks of the run engine: a job id in, `runner.job_execute`, and a re-send of
the task when the job went back to the queue (transient error with backoff, or not yet).

One task name per job type (`jobs.TASK_NAMES`, which sends them by name) so queues and
monitoring read naturally; every one routes by the job's own `queue` (set when it is
enqueued). Retries are messages sent by the task itself, not Celery's autoretry: the attempt
count, backoff and dead-letter state live on the Job row (so a retry the broker cannot take
is left to the re-drive, as every send of `jobs.task_send`).
"""

from celery import Task, shared_task

from apps.execution import monitor
from apps.execution.jobs import QUEUE_FOR, task_send
from apps.execution.models import Job
from apps.execution.runner import job_execute
from apps.execution.steps.batch import trades_execute
from apps.execution.steps.plan import plan_backpressure


def _run(task: Task, job_id: int) -> None:
    countdown = job_execute(job_id=job_id)
    if countdown is not None:
        queue = QUEUE_FOR[Job.objects.values_list("type", flat=True).get(pk=job_id)]
        task_send(task.name, (job_id,), queue=queue, countdown=countdown)


@shared_task(bind=True, name="execution.distribute", ignore_result=True)
def distribute(self, job_id: int) -> None:
    _run(self, job_id)


@shared_task(bind=True, name="execution.preflight", ignore_result=True)
def preflight(self, job_id: int) -> None:
    _run(self, job_id)


@shared_task(bind=True, name="execution.plan", ignore_result=True)
def plan(self, job_id: int) -> None:
    countdown = plan_backpressure(job_id=job_id)
    if countdown is None:
        _run(self, job_id)
    else:  # the run is behind: look again later (the job's queue is known, no query)
        task_send(self.name, (job_id,), queue=QUEUE_FOR[Job.Type.PLAN], countdown=countdown)


@shared_task(bind=True, name="execution.trade", ignore_result=True)
def trade(self, job_id: int) -> None:
    _run(self, job_id)


@shared_task(name="execution.trades", ignore_result=True)
def trades(job_ids: list[int], retries: int = 0) -> None:
    """A slice of one run's trades, sent together with other runs' due trades (see
    `steps.batch.trades_execute`)."""
    trades_execute(job_ids=job_ids, retries=retries)


@shared_task(bind=True, name="execution.funds_gather", ignore_result=True)
def funds_gather(self, job_id: int) -> None:
    _run(self, job_id)


@shared_task(name="execution.status_tick", ignore_result=True)
def status_tick() -> dict:
    """Beat: `stats` for every live run, and re-send the tasks of stuck jobs."""
    return monitor.runs_status_tick()


@shared_task(name="execution.reconcile", ignore_result=True)
def reconcile() -> dict:
    """Beat: ledger against chain for every running run; a mismatch pauses the run."""
    return monitor.runs_reconcile()
