"""Operator-console fixtures: rows only (a token, pool and funding wallet per user, campaigns
put straight into a status with a matching run), an operator client signed in as carol, and a
listener on the channel groups notices go to."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from solders.keypair import Keypair

from apps.core.realtime import NOTICES_GROUP, user_group
from apps.execution.models import Execution, Job
from tests.campaigns.conftest import Setup
from tests.campaigns.conftest import make_campaign as campaigns_make_campaign
from tests.execution.conftest import chain, engine_localnet, setup, workers  # noqa: F401

SOL = 1_000_000_000


def make_campaign(user, *, status: str = "draft", reason: str = "", name: str = "Campaign"):
    """A campaign of `user` on its own token, pool and funding wallet, put straight into
    `status` (set-up only), with a run in the matching state when the status implies one."""
    return campaigns_make_campaign(Setup(user), status=status, reason=reason, name=name)


def make_job(run, *, status: str = "dead", type: str = "plan", sequence: int = 1) -> Job:
    return Job.objects.create(
        run=run, queue="status", type=type, status=status, attempts=5,
        idempotency_key=f"run:{run.pk}:{type}:{sequence}",
        error={"code": "transient_exhausted", "message": "RPC down"} if status == "dead" else None,
    )  # fmt: skip


def make_execution(run, *, job, side="buy", status="landed", sol=SOL // 10, fee=5_000, n=0):
    return Execution.objects.create(
        job=job, run=run, attempt=n, signature=str(Keypair().pubkey()) + f"{n}", status=status,
        side=side, wallet=run.campaign.funding_wallet, fee_lamports=fee,
        sol_in_lamports=sol if side == "buy" else 0, sol_out_lamports=sol if side == "sell" else 0,
    )  # fmt: skip


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
