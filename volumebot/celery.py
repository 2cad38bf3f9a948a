"""The Celery app: queues, routing defaults and the reliability settings every task relies on."""

import os

from celery import Celery
from kombu import Queue

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

app = Celery("volumebot")
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
    worker_send_task_events=True,
    task_send_sent_event=True,
)
app.autodiscover_tasks()
