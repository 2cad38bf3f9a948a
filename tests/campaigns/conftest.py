"""Campaign fixtures: a registered token with a selected pool and a custodial funding wallet
per user (rows only: the chain is needed only where a test asks for `localnet`), a chain
balance reader answering from a dict, and `make_campaign(user, status=...)`."""

import pytest
from django.utils import timezone
from solders.keypair import Keypair

from apps.campaigns.models import CAMPAIGN_LIVE, Campaign, CampaignRun, CampaignStatus
from apps.campaigns.services import campaign_create
from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
from apps.wallets import balances as chain_balances
from tests.factories import WalletFactory

WSOL = "So11111111111111111111111111111111111111112"
SOL = 1_000_000_000

# A valid campaign: 3 makers at 0.5 SOL, trades of 0.01 to 0.05 SOL, run to 10 SOL of volume.
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
# What the funding wallet needs for PARAMS: 3 * 0.5 SOL + 1 distribute tx + 3 * 3 gather sigs.
REQUIRED_LAMPORTS = 3 * SOL // 2 + 5_000 + 9 * 5_000


class FakeReader:
    """BalanceReader over a dict (address → lamports)."""

    def __init__(self):
        self.lamports: dict[str, int] = {}
        self.calls = 0

    def get_balance(self, address: str) -> int:
        self.calls += 1
        return self.lamports.get(address, 0)

    def get_token_accounts_by_owner(self, owner: str, *, program_id: str):
        return []


@pytest.fixture
def chain(monkeypatch):
    reader = FakeReader()
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: reader)
    return reader


class Setup:
    def __init__(self, user, *, network: str = "localnet"):
        self.user = user
        self.token = Token.objects.create(
            network=network, mint=str(Keypair().pubkey()), program="spl", decimals=6,
            supply_raw=10**15, symbol="TEST", name="Test",
        )  # fmt: skip
        TokenLink.objects.create(owner=user, token=self.token)
        self.pool = Pool.objects.create(
            network=network, token=self.token, dex="raydium_amm_v4",
            address=str(Keypair().pubkey()), quote_mint=WSOL, fetched_at=timezone.now(),
        )  # fmt: skip
        PoolSelection.objects.create(owner=user, pool=self.pool)
        self.wallet = WalletFactory(owner=user, label="Funding")

    def refs(self) -> dict:
        return {
            "token_id": self.token.pk,
            "pool_id": self.pool.pk,
            "funding_wallet_id": self.wallet.pk,
        }


@pytest.fixture
def alice_setup(alice):
    return Setup(alice)


@pytest.fixture
def bob_setup(bob):
    return Setup(bob)


RUN_STATUS = {
    "active": "running",
    "paused": "paused",
    "stopping": "stopping",
    "stopped": "stopped",
    "completed": "completed",
    "failed": "failed",
}


def make_campaign(
    setup: Setup,
    *,
    status: str = "draft",
    params: dict | None = None,
    name: str = "Campaign",
    reason: str = "",
    **kw,
):
    """A campaign made by the service, then put straight into `status` (test set-up only),
    with a run in the matching state when the status implies one (both with `reason`)."""
    campaign = campaign_create(
        owner=setup.user, name=name, params={**PARAMS, **(params or {})},
        **setup.refs(), **kw,
    )  # fmt: skip
    if status != CampaignStatus.DRAFT:
        Campaign.objects.filter(pk=campaign.pk).update(status=status, status_reason=reason)
        if status in RUN_STATUS:
            ended = None if status in CAMPAIGN_LIVE else timezone.now()
            CampaignRun.objects.create(
                campaign=campaign, status=RUN_STATUS[status], seed=7,
                started_at=timezone.now(), ended_at=ended, status_reason=reason,
            )  # fmt: skip
        campaign.refresh_from_db()
    return campaign


@pytest.fixture
def funded(chain, alice_setup):
    chain.lamports[alice_setup.wallet.address] = 100 * SOL
    return chain
