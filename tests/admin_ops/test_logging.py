"""One request id from the web request into the tasks it enqueues, on JSON log lines that
also carry the user and job ids."""

import contextlib
import json
import logging
import time

import pytest
from django.urls import reverse
from pythonjsonlogger.json import JsonFormatter

from apps.execution.models import Job
from tests.support.campaigns import make_campaign, make_job
from tests.workers import threads_worker

pytestmark = pytest.mark.django_db(transaction=True)


class Capture(logging.Handler):
    """The configured console handler's filters and JSON formatter, writing into a list."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        console = next(
            handler for handler in logging.getLogger().handlers
            if isinstance(handler.formatter, JsonFormatter)
        )  # fmt: skip
        self.setFormatter(console.formatter)
        for log_filter in console.filters:
            self.addFilter(log_filter)
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@contextlib.contextmanager
def capture_logs():
    # Attached once the worker is up: its start re-applies settings.LOGGING (django-guid's
    # `use_django_logging`), which replaces the root logger's handlers.
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)


def test_it_carries_the_request_id_from_a_request_into_the_task_it_enqueues(client, carol, alice):
    client.force_login(carol)
    run = make_campaign(alice, status="paused").runs.get()
    job = make_job(run, status="dead", type="plan", sequence=4)

    with threads_worker(), capture_logs() as captured:
        response = client.post(
            reverse("admin:execution_job_changelist"),
            {"action": "redrive", "_selected_action": [job.pk]},
        )
        deadline = time.monotonic() + 20
        # Until the worker logged the end of our job's task (it may run others left in the queue).
        while time.monotonic() < deadline and not any(
            line.get("job_id") == job.pk and "succeeded" in line["message"] for line in captured
        ):
            time.sleep(0.1)

    request_id = response.headers["X-Request-ID"]
    # The request: the operator's action, with the operator's id.
    request_line = next(line for line in captured if line["message"] == "dead jobs re-driven")
    assert request_line["request_id"] == request_id
    assert request_line["user_id"] == carol.pk
    assert request_line["job_ids"] == [job.pk]
    # The task, run by the worker: the same request id, its own task id and the job id.
    task_lines = [line for line in captured if line.get("job_id") == job.pk]
    assert task_lines, [line["message"] for line in captured]
    assert {line["request_id"] for line in task_lines} == {request_id}
    assert {line["task"] for line in task_lines} == {"execution.plan"}
    # The engine ran it: the run is paused, so the planner window is cancelled.
    assert Job.objects.get(pk=job.pk).status == "cancelled"
