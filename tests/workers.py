"""Real Celery workers consuming through the real broker: threads in the test process
(`threads_worker`) or a process of its own (`worker_process`, which a test may SIGKILL)."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from django.db import connection

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


# A worker process on the test database and the engine's localnet (`worker_process`).
_BOOT = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "volumebot.settings.test"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["ENGINE_TEST_DB"]
settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [os.environ["ENGINE_RPC"]]}
settings.EXECUTION_PLAN_WINDOW_MS = 1000
settings.EXECUTION_BUSY_MS = 300
import django
django.setup()
from volumebot.celery import app
app.worker_main(["worker", "--pool=threads", "--concurrency=4", "-Q", os.environ["ENGINE_QUEUES"],
                 "--loglevel=ERROR", "--without-heartbeat", "--without-mingle", "--without-gossip"])
"""


def worker_process(rpc_url: str, *, redis_url: str | None = None) -> subprocess.Popen:
    """A real `celery worker` process (threads pool, every queue) on the test database and the
    localnet at `rpc_url`; with `redis_url`, its broker, cache and channel layer are on that
    Redis (`tests.support.redis`) instead of the suite's."""
    env = {
        **os.environ,
        "ENGINE_TEST_DB": connection.settings_dict["NAME"],
        "ENGINE_RPC": rpc_url,
        "ENGINE_QUEUES": ",".join(QUEUES),
    }
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
        env.pop("CELERY_BROKER_URL", None)
    return subprocess.Popen([sys.executable, "-c", _BOOT], env=env, cwd=os.getcwd())
