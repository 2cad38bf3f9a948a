"""Driving and watching the engine in tests: wait for a condition, hold a job's or wallet's
lock from another database session (another worker), run jobs as workers would, and listen
to a campaign's events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connections

from apps.core.chain import rpc_pool
from apps.core.locking import lock_key
from apps.core.realtime import campaign_group
from apps.execution.models import Job
from apps.execution.runner import job_execute


def wait_for(condition: Callable[[], object], *, timeout: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


def run_to_completion(setup, campaign):
    """Start `campaign` and wait until the engine completed it (its run, refreshed)."""
    run = setup.start(campaign)
    wait_until_completed(campaign, run)
    return run


def wait_until_completed(campaign, run=None, *, timeout: float = 180) -> None:
    """Wait until the engine finished `campaign`, refresh it (and `run`) and check that it
    completed; a failed campaign's reason and its run's unfinished jobs are the message."""
    from apps.campaigns.models import Campaign

    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status in ("completed", "failed"),
        timeout=timeout, what=f"campaign {campaign.pk} to complete",
    )  # fmt: skip
    campaign.refresh_from_db()
    if run is not None:
        run.refresh_from_db()
    unfinished = Job.objects.filter(run__campaign=campaign).exclude(
        status__in=["succeeded", "cancelled"]
    )
    assert campaign.status == "completed", (
        campaign.status_reason,
        list(unfinished.values("type", "status", "error", "idempotency_key")),
    )


@contextlib.contextmanager
def held_by_another_worker(namespace: int, key: int) -> Iterator[None]:
    """The engine's advisory lock `namespace`/`key` held by another database session (another
    worker) for the duration of the block; closing that session releases it."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock_key(namespace, key)])
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        yield
    finally:
        other.close()
    # Postgres releases the lock when that backend exits, which happens a moment after the
    # client closes (longer on a loaded machine): wait for it, as a worker's death would.
    wait_for(lambda: not _backend_alive(pid), timeout=10, what="the holder's backend to exit")


def _backend_alive(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


def wait_for_the_endpoint_to_cool_down() -> None:
    """Until the localnet endpoint a fault made the RPC pool cool down is available again."""
    wait_for(
        lambda: not any(h.cooling_for_s > 0 for h in rpc_pool("localnet").health()),
        timeout=15, what="the RPC endpoint's cool-down",
    )  # fmt: skip


def drain(run, *, types: tuple[str, ...]) -> None:
    """Run every live job of these types, as workers would (ETAs ignored)."""
    while jobs := list(Job.objects.filter(run=run, type__in=types, status="queued")):
        for job in jobs:
            job_execute(job_id=job.pk)


class GroupListener:
    """Joins channel groups and collects what is published to them."""

    def __init__(self, *groups: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def drain(self) -> list[dict]:
        async def receive_all() -> list[dict]:
            events = []
            while True:
                try:
                    events.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.3))
                except TimeoutError:
                    return events

        return async_to_sync(receive_all)()


class EventListener(GroupListener):
    """Joins a campaign's channel group and collects what the engine publishes."""

    def __init__(self, campaign_id: int):
        super().__init__(campaign_group(campaign_id))
