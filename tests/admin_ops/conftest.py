"""Operator-console fixtures: an operator client signed in as carol, and a listener on the
channel groups notices go to (campaigns and the engine's rows: tests/support/campaigns.py)."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.core.realtime import NOTICES_GROUP, user_group


@pytest.fixture
def operator(client, carol):
    client.force_login(carol)
    return client


class Notices:
    """Joins the notice groups (everyone, and the given users) and collects what arrives."""

    def __init__(self, *user_ids: int):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in [NOTICES_GROUP, *(user_group(pk) for pk in user_ids)]:
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


@pytest.fixture
def notices():
    return Notices


@pytest.fixture(autouse=True)
def _fast_console_reads(settings):
    # Every control-room render asks the workers and probes RPC; nobody answers most tests.
    settings.OPS_INSPECT_TIMEOUT_S = 0.2
    settings.OPS_RPC_PROBE_TIMEOUT_S = 0.5
