"""Operator-console fixtures: rows only (a token, pool and funding wallet per user, campaigns
put straight into a status with a matching run), an operator client signed in as carol, and a
listener on the channel groups notices go to."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone
from solders.keypair import Keypair

from apps.campaigns.models import CAMPAIGN_LIVE, Campaign, CampaignRun
from apps.campaigns.services import campaign_create
from apps.core.realtime import NOTICES_GROUP, user_group
from apps.execution.models import Execution, Job
from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
from tests.execution.conftest import chain, engine_localnet, setup, workers  # noqa: F401
from tests.factories import WalletFactory

WSOL = "So11111111111111111111111111111111111111112"
SOL = 1_000_000_000
PARAMS = {
    "maker_count": 3,
    "maker_funding_sol": "0.5",
    "trade_size_min_sol": "0.01",
    "trade_size_max_sol": "0.05",
    "delay_min_seconds": "1",
    "delay_max_seconds": "3",
    "target_volume_sol": "10",
    "seed": 7,
}
RUN_STATUS = {"active": "running", "paused": "paused", "stopping": "stopping",
              "stopped": "stopped", "completed": "completed", "failed": "failed"}  # fmt: skip


def make_campaign(user, *, status: str = "draft", reason: str = "", name: str = "Campaign"):
    """A campaign made by the service, then put straight into `status` (set-up only), with a
    run in the matching state when the status implies one."""
    token = Token.objects.create(
        network="localnet", mint=str(Keypair().pubkey()), program="spl", decimals=6,
        supply_raw=10**15, symbol="TEST", name="Test",
    )  # fmt: skip
    TokenLink.objects.create(owner=user, token=token)
    pool = Pool.objects.create(
        network="localnet", token=token, dex="raydium_amm_v4", address=str(Keypair().pubkey()),
        quote_mint=WSOL, fetched_at=timezone.now(),
    )  # fmt: skip
    PoolSelection.objects.create(owner=user, pool=pool)
    wallet = WalletFactory(owner=user, label="Funding")
    campaign = campaign_create(
        owner=user, name=name, token_id=token.pk, pool_id=pool.pk,
        funding_wallet_id=wallet.pk, params=PARAMS,
    )  # fmt: skip
    if status != "draft":
        Campaign.objects.filter(pk=campaign.pk).update(status=status, status_reason=reason)
        if status in RUN_STATUS:
            CampaignRun.objects.create(
                campaign=campaign, status=RUN_STATUS[status], seed=7, started_at=timezone.now(),
                ended_at=None if status in CAMPAIGN_LIVE else timezone.now(),
                status_reason=reason,
            )  # fmt: skip
        campaign.refresh_from_db()
    return campaign


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
