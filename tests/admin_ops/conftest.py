"""Operator-console fixtures: an operator client signed in as carol (second factor passed), and
a listener on the channel groups notices go to (campaigns and the engine's rows:
tests/support/campaigns.py)."""

import pytest

from apps.core.realtime import NOTICES_GROUP, user_group
from tests.support.engine import GroupListener
from tests.support.mfa import login_verified


@pytest.fixture
def carol_mfa(client, carol):
    """carol signed in on `client` with a session that passed her second factor."""
    return login_verified(client, carol)


@pytest.fixture
def operator(client, carol_mfa):
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
