"""A user's campaign set-up (`Setup`), campaigns put into any state (`make_campaign`), and the
engine's rows written straight (`make_job`, `make_trade`, `make_execution`) for the pages and
the operator console, which only read them."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.accounts.models import User
from apps.campaigns.models import CAMPAIGN_LIVE, Campaign, CampaignRun, CampaignStatus
from apps.campaigns.services import campaign_create, campaign_start
from apps.chain.constants import TOKEN_PROGRAM_ID
from apps.execution.lifecycle import run_engine_start
from apps.execution.models import Execution, Job
from apps.localnet import Cluster
from apps.localnet.seed import seed_token
from apps.localnet.seed_pump import seed_pumpswap_pool
from apps.wallets.models import Wallet
from tests.factories import (
    CampaignRunFactory,
    ExecutionFactory,
    JobFactory,
    PoolFactory,
    TokenFactory,
    WalletFactory,
)

SOL = 1_000_000_000
# seed_token's default AMM v4 reserves (token raw, lamports), used for the CPMM pool too.
RAYDIUM_RESERVES = (500_000_000_000_000, 200 * SOL)

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

# For the engine on the fast localnet: 3 makers x 0.2 SOL, trades of 0.01-0.03 SOL every
# 0.1-0.3 s, to 0.25 SOL of volume.
ENGINE_PARAMS = {
    "maker_count": 3,
    "maker_funding_sol": "0.2",
    "trade_size_min_sol": "0.01",
    "trade_size_max_sol": "0.03",
    "delay_min_seconds": "0.1",
    "delay_max_seconds": "0.3",
    "buy_percent": 60,
    "concurrency_cap": 3,
    "target_volume_sol": "0.25",
    "seed": 11,
}

# The run's status for each campaign status that has one.
RUN_STATUS = {
    "active": "running",
    "paused": "paused",
    "stopping": "stopping",
    "stopped": "stopped",
    "completed": "completed",
    "failed": "failed",
}


class Setup:
    """A user's registered token with its pools selected, and a custodial funding wallet.

    Rows only by default: a fresh mint with a Raydium pool (nothing on any chain). With
    `cluster`: a token seeded on that localnet with a pool on every venue (Raydium AMM v4,
    Raydium CPMM, its pump.fun curve and, as if the curve had migrated, a PumpSwap pool; a
    Token-2022 token, `token_program=TOKEN_2022_PROGRAM_ID`, has no AMM v4 pool), and the
    funding wallet holding the seeded wallet's key and its 100 SOL; campaigns then use the
    engine's fast params (`ENGINE_PARAMS`)."""

    def __init__(
        self,
        user: User,
        cluster: Cluster | None = None,
        *,
        network: str = "localnet",
        token_program: Pubkey = TOKEN_PROGRAM_ID,
    ):
        self.user, self.cluster = user, cluster
        keypair = None
        if cluster is None:
            self.params = PARAMS
            token = TokenFactory(network=network, linked_to=user)
            pools = {"raydium_amm_v4": None}
        else:
            self.params = ENGINE_PARAMS
            spl = token_program == TOKEN_PROGRAM_ID
            self.seeded = seed_token(
                cluster, wallets=1, token_program=token_program,
                raydium_reserves=RAYDIUM_RESERVES if spl else None, cpmm_reserves=RAYDIUM_RESERVES,
            )  # fmt: skip
            self.pumpswap = seed_pumpswap_pool(
                cluster, mint=self.seeded.mint, base_reserve=206_900_000_000_000,
                quote_reserve=84_990_359_056, coin_creator=self.seeded.pumpfun.creator,
            )  # fmt: skip
            token = TokenFactory(
                network=network, mint=str(self.seeded.mint), decimals=self.seeded.decimals,
                program="spl" if spl else "token2022", linked_to=user,
            )  # fmt: skip
            pools = {
                **({"raydium_amm_v4": str(self.seeded.raydium.amm)} if spl else {}),
                "raydium_cpmm": str(self.seeded.cpmm.pool),
                "pumpfun": str(self.seeded.pumpfun.curve),
                "pumpswap": str(self.pumpswap.pool),
            }
            keypair = self.seeded.wallets[0]
        self.token = token
        self.pools = {
            dex: PoolFactory(
                token=token, dex=dex, selected_by=user, **({"address": a} if a else {})
            )
            for dex, a in pools.items()
        }
        self.pool = self.pools.get("raydium_amm_v4") or self.pools["raydium_cpmm"]
        self.wallet = WalletFactory(owner=user, keypair=keypair, label="Funding")

    def refs(self, dex: str = "raydium_amm_v4") -> dict:
        return {
            "token_id": self.token.pk,
            "pool_id": self.pools[dex].pk,
            "funding_wallet_id": self.wallet.pk,
        }

    def campaign(self, *, dex: str = "raydium_amm_v4", **params) -> Campaign:
        """A draft campaign named "Engine" with these params over the set-up's."""
        return make_campaign(self, params=params, dex=dex, name="Engine")

    def start(self, campaign: Campaign) -> CampaignRun:
        """Start `campaign` as its owner and hand its run to the engine (the campaigns hook
        does it too; the engine's start is idempotent)."""
        campaign_start(campaign_id=campaign.pk, actor=self.user)
        run = CampaignRun.objects.get(campaign=campaign)
        run_engine_start(run_id=run.pk)
        return run

    def lamports(self, address: str) -> int:
        return self.cluster.get_balance(Pubkey.from_string(address))

    def token_accounts(self, address: str) -> list:
        return self.cluster.token_accounts_of(Pubkey.from_string(address), mint=None, program=None)


def make_campaign(
    setup: Setup | User,
    *,
    status: str = "draft",
    params: dict | None = None,
    name: str = "Campaign",
    reason: str = "",
    dex: str = "raydium_amm_v4",
    **kw,
) -> Campaign:
    """A campaign made by the service (of `setup`, or of a fresh rows-only set-up of a user),
    then put straight into `status` (test set-up only), with a run in the matching state when
    the status implies one (both with `reason`)."""
    if isinstance(setup, User):
        setup = Setup(setup)
    campaign = campaign_create(
        owner=setup.user, name=name, params={**setup.params, **(params or {})},
        **setup.refs(dex), **kw,
    )  # fmt: skip
    if status != CampaignStatus.DRAFT:
        Campaign.objects.filter(pk=campaign.pk).update(status=status, status_reason=reason)
        if status in RUN_STATUS:
            ended = None if status in CAMPAIGN_LIVE else timezone.now()
            CampaignRunFactory(
                campaign=campaign, status=RUN_STATUS[status], ended_at=ended, status_reason=reason
            )
        campaign.refresh_from_db()
    return campaign


def make_job(
    run: CampaignRun,
    *,
    type: str = "trade_buy",
    status: str = "succeeded",
    sequence: int | str | None = None,
    attempts: int = 0,
) -> Job:
    """A job row as the engine leaves it (a dead one with the error its attempts ran out on)."""
    extra = {} if sequence is None else {"sequence": sequence}
    return JobFactory(run=run, type=type, status=status, attempts=attempts, **extra)


def make_trade(run, *, side: str = "buy", lamports: int = SOL // 50, status: str = "landed",
               maker=None, created_at=None) -> Execution:  # fmt: skip
    """A trade job and its landed execution, as the engine writes them, with the run's
    counters moved as the engine moves them."""
    job = make_job(run, type=f"trade_{side}")
    maker = maker or Wallet.objects.create(
        owner=run.campaign.owner, address=str(Pubkey.new_unique()), kind=Wallet.Kind.MAKER,
        encrypted_secret=b"not-a-real-key", run=run,
    )  # fmt: skip
    execution = make_execution(run, job=job, side=side, sol=lamports, status=status, wallet=maker)
    landed = status == "landed"
    CampaignRun.objects.filter(pk=run.pk).update(
        trades_total=F("trades_total") + 1,
        trades_succeeded=F("trades_succeeded") + int(landed),
        trades_failed=F("trades_failed") + int(not landed),
        volume_lamports=F("volume_lamports") + (lamports if landed else 0),
        fees_lamports=F("fees_lamports") + 5_000,
    )
    if created_at is not None:
        Execution.objects.filter(pk=execution.pk).update(created_at=created_at)
        execution.refresh_from_db()
    return execution


def make_execution(
    run, *, job, side="buy", status="landed", sol=SOL // 10, fee=5_000, n=1, wallet=None
) -> Execution:
    """One transaction (attempt `n`) of `job` moving `sol` lamports, by `wallet` (the
    campaign's funding wallet unless given)."""
    return ExecutionFactory(
        job=job, run=run, attempt=n, status=status, side=side, fee_lamports=fee,
        wallet=wallet or run.campaign.funding_wallet,
        sol_in_lamports=sol if side == "buy" else 0, sol_out_lamports=sol if side == "sell" else 0,
    )  # fmt: skip
