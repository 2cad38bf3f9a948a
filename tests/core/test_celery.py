from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.tasks import purge_unverified_signups
from tests.factories import UserFactory
from tests.workers import threads_worker
from volumebot.celery import QUEUES
from volumebot.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_a_task_through_the_real_broker_in_a_worker(alice):
    stale = UserFactory(email="stale@example.com", email_verified_at=None)
    User.objects.filter(pk=stale.pk).update(date_joined=timezone.now() - timedelta(days=30))
    fresh = UserFactory(email="fresh@example.com", email_verified_at=None)

    with threads_worker():
        purge_unverified_signups.apply_async(queue="default")
        deadline = timezone.now() + timedelta(seconds=20)
        while User.objects.filter(pk=stale.pk).exists() and timezone.now() < deadline:
            pass

    assert not User.objects.filter(pk=stale.pk).exists()
    assert set(User.objects.values_list("pk", flat=True)) == {alice.pk, fresh.pk}


def test_it_is_configured_for_reliable_delivery():
    conf = celery_app.conf

    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert sorted(queue.name for queue in conf.task_queues) == sorted(QUEUES)
    # Test tasks travel on their own Redis database and prefix: a dev worker never sees them.
    assert conf.broker_url.endswith("/10")
    assert conf.broker_transport_options["global_keyprefix"].startswith("vbtest")


def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next():
    from django.db import connection

    # What the worker runs before and after each task (Celery's own closes every connection).
    [fixup] = celery_app._fixups
    between_tasks = fixup.worker_fixup.close_database
    max_age = connection.settings_dict["CONN_MAX_AGE"]
    try:
        connection.settings_dict["CONN_MAX_AGE"] = 60  # DB_CONN_MAX_AGE=60
        connection.close()
        connection.ensure_connection()
        kept = connection.connection
        between_tasks()
        assert connection.connection is kept
        # A broken connection is closed; the next task opens a new one.
        connection.errors_occurred = True
        kept.close()
        between_tasks()
        assert connection.connection is None

        connection.settings_dict["CONN_MAX_AGE"] = 0  # the default: closed after each task
        connection.ensure_connection()
        between_tasks()
        assert connection.connection is None
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.close()
