"""Operator-console fixtures: an operator client signed in as carol, and a listener on the
channel groups notices go to (campaigns and the engine's rows: tests/support/campaigns.py)."""

import pytest

from apps.core.realtime import NOTICES_GROUP, user_group
from tests.support.engine import GroupListener


@pytest.fixture
def operator(client, carol):
    client.force_login(carol)
    return client


class Notices(GroupListener):
    """Joins the notice groups (everyone, and the given users) and collects what arrives."""

    def __init__(self, *user_ids: int):
        super().__init__(NOTICES_GROUP, *(user_group(pk) for pk in user_ids))


@pytest.fixture
def notices():
    return Notices


@pytest.fixture(autouse=True)
def _fast_console_reads(settings):
    # Every control-room render asks the workers and probes RPC; nobody answers most tests.
    settings.OPS_INSPECT_TIMEOUT_S = 0.2
    settings.OPS_RPC_PROBE_TIMEOUT_S = 0.5
