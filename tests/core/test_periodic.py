import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.core.periodic import PERIODIC_TASKS
from apps.core.services import DECLARED_IN_CODE

pytestmark = pytest.mark.django_db


def test_it_installs_declared_periodic_tasks_idempotently():
    call_command("setup_periodic_tasks")
    call_command("setup_periodic_tasks")

    installed = PeriodicTask.objects.filter(description=DECLARED_IN_CODE)
    assert sorted(installed.values_list("task", flat=True)) == sorted(
        p.task for p in PERIODIC_TASKS
    )
    assert all(task.enabled for task in installed)


def test_it_disables_periodic_tasks_no_longer_declared():
    call_command("setup_periodic_tasks")
    first = PeriodicTask.objects.get(task=PERIODIC_TASKS[0].task)
    PeriodicTask.objects.create(
        name="Old job", task="gone.task", interval=first.interval, description=DECLARED_IN_CODE
    )

    call_command("setup_periodic_tasks")

    assert not PeriodicTask.objects.get(name="Old job").enabled
