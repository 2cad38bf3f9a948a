"""The Celery app: queues, routing defaults and the reliability settings every task relies on."""

import contextlib
import inspect
import os
import time

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun, worker_ready
from kombu import Queue

from apps.core.logging import bound

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volumebot.settings.base")

QUEUES = (
    "distribute",
    "gather",
    "trade.buy",
    "trade.sell",
    "status",
    "webhook",
    "funds.gather",
    "default",
)


class _WorkerFixup(DjangoWorkerFixup):
    """Celery's Django worker fix-up, keeping each worker thread's database connection from one
    task to the next. Celery closes every connection before and after each task, so each task
    opened a new one: Postgres forks a backend whose caches start cold, which at a hundred
    trades a second was a large share of the machine's CPU. Like Django between two requests,
    only a connection that is broken or older than `DB_CONN_MAX_AGE` is closed (with the
    default 0, every time, as before). A job's advisory locks are released by the code that
    takes them, not by the end of the connection."""

    def close_database(self, **kwargs) -> None:
        for connection in self._db.connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()


class _Fixup(DjangoFixup):
    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = _WorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def django_fixup(app: Celery) -> DjangoFixup:
    return _Fixup(app).install()


app = Celery("volumebot", fixups=["volumebot.celery:django_fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # A task is acknowledged only after it ran, and re-queued if its worker dies mid-way: every
    # task is idempotent (jobs are keyed in Postgres), so running twice is safe, losing one is not.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()


# Ids a task's arguments may carry; each is added to every log line the task writes (the request
# id comes from django-guid's Celery integration, configured in DJANGO_GUID).
LOG_CONTEXT_IDS = ("user_id", "campaign_id", "run_id", "job_id")
_log_contexts: dict[str, contextlib.ExitStack] = {}
_started: dict[str, float] = {}


def _task_ids(task, args, kwargs) -> dict:
    try:
        names = [name for name in inspect.signature(task.run).parameters if name != "self"]
    except (TypeError, ValueError):
        names = []
    values = {**dict(zip(names, args or (), strict=False)), **(kwargs or {})}
    return {name: values[name] for name in LOG_CONTEXT_IDS if name in values}


@task_prerun.connect
def _task_started(task_id=None, task=None, args=None, kwargs=None, **_):
    stack = contextlib.ExitStack()
    stack.enter_context(bound(task=task.name, task_id=task_id, **_task_ids(task, args, kwargs)))
    _log_contexts[task_id] = stack
    _started[task_id] = time.monotonic()


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **_):
    # Same thread as the prerun (Celery runs both around the task), so the context resets.
    stack = _log_contexts.pop(task_id, None)
    if stack is not None:
        stack.close()
    started = _started.pop(task_id, None)
    # Imported here: this module is imported before Django is set up.
    from apps.core import metrics

    queue = (task.request.delivery_info or {}).get("routing_key") or "default"
    metrics.TASKS.labels(queue=queue, task=task.name, state=(state or "unknown").lower()).inc()
    if started is not None:
        metrics.TASK_SECONDS.labels(queue=queue, task=task.name).observe(time.monotonic() - started)


@worker_ready.connect
def _metrics_exporter(**_):
    """Serve this worker host's metrics on WORKER_METRICS_PORT (unset: off). Bind it to the pod
    or host network only; there is no token on this port."""
    port = int(os.environ.get("WORKER_METRICS_PORT") or 0)
    if port:
        from prometheus_client import start_http_server

        from apps.core.metrics import exposed_registry

        start_http_server(port, registry=exposed_registry())
