"""A real Celery worker (threads pool) in the test process, consuming through the real broker."""

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker

from volumebot.celery import QUEUES
from volumebot.celery import app as celery_app


@contextmanager
def threads_worker(
    *, concurrency: int = 1, queues: list[str] | None = None, shutdown_timeout: float = 10
) -> Iterator[None]:
    """Celery's `start_worker`, and on the way out a wait for the tasks its pool threads still
    run: it terminates the worker without waiting for them, so a test's database flush could
    race a task still writing (a deadlock, seen under load)."""
    worker = None
    try:
        with start_worker(
            celery_app, pool="threads", concurrency=concurrency, perform_ping_check=False,
            queues=list(QUEUES) if queues is None else queues, shutdown_timeout=shutdown_timeout,
        ) as worker:  # fmt: skip
            yield
    finally:
        if worker is not None:
            worker.pool.executor.shutdown(wait=True)
