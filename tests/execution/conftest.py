"""Run-engine fixtures: a fast localnet over HTTP (20 ms slots, so a blockhash expires in 3 s),
a seeded token with its Raydium pool and pump.fun curve registered for alice, a funded
custodial wallet, and real Celery workers (threads, in-process) on every engine queue."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connections
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.campaigns.models import CampaignRun
from apps.campaigns.services import campaign_create, campaign_start
from apps.core.chain import rpc_pool
from apps.core.locking import lock_key
from apps.execution.lifecycle import run_engine_start
from apps.localnet import Cluster
from apps.localnet.seed import seed_token
from apps.localnet.server import start_server
from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
from tests.factories import WalletFactory
from tests.workers import threads_worker

WSOL = "So11111111111111111111111111111111111111112"
SOL = 1_000_000_000
SLOT_MS = 20

# 3 makers x 0.2 SOL, trades of 0.01-0.03 SOL every 0.1-0.3 s, to 0.25 SOL of volume.
PARAMS = {
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


@pytest.fixture(scope="session")
def engine_localnet():
    server = start_server(cluster=Cluster(slot_ms=SLOT_MS))
    yield server
    server.stop()


@pytest.fixture
def chain(engine_localnet, settings):
    """The fast localnet as the platform's `localnet` network, with its faults reset."""
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [engine_localnet.url]}
    # Localnet trades confirm in milliseconds: plan 1 s windows, a trade busy for 300 ms.
    settings.EXECUTION_PLAN_WINDOW_MS = 1_000
    settings.EXECUTION_BUSY_MS = 300
    faults = engine_localnet.faults
    yield engine_localnet
    faults.drop_transactions = faults.down = faults.rate_limited = False
    faults.latency_s = 0.0


class Setup:
    """alice's token (fresh mint), both pools selected, and a custodial wallet with 100 SOL."""

    def __init__(self, user, cluster: Cluster):
        self.user = user
        self.seeded = seed_token(cluster, wallets=1)
        mint = str(self.seeded.mint)
        self.token = Token.objects.create(
            network="localnet", mint=mint, program="spl", decimals=self.seeded.decimals,
            supply_raw=10**15, symbol="TEST", name="Test",
        )  # fmt: skip
        TokenLink.objects.create(owner=user, token=self.token)
        self.pools = {}
        for dex, address in (
            ("raydium_amm_v4", self.seeded.raydium.amm),
            ("pumpfun", self.seeded.pumpfun.curve),
        ):
            pool = Pool.objects.create(
                network="localnet", token=self.token, dex=dex, address=str(address),
                quote_mint=WSOL, fetched_at=timezone.now(),
            )  # fmt: skip
            PoolSelection.objects.create(owner=user, pool=pool)
            self.pools[dex] = pool
        self.wallet = WalletFactory(owner=user, keypair=self.seeded.wallets[0], label="Funding")
        self.cluster = cluster

    def campaign(self, *, dex: str = "raydium_amm_v4", **params):
        return campaign_create(
            owner=self.user, name="Engine", token_id=self.token.pk,
            pool_id=self.pools[dex].pk, funding_wallet_id=self.wallet.pk,
            params={**PARAMS, **params},
        )  # fmt: skip

    def start(self, campaign) -> CampaignRun:
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


@pytest.fixture
def setup(alice, chain):
    return Setup(alice, chain.cluster)


@pytest.fixture
def workers():
    """Real Celery workers (threads) consuming every queue through the real broker."""
    with threads_worker(concurrency=8, shutdown_timeout=30):
        yield


def wait_for(condition: Callable[[], object], *, timeout: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


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


class EventListener:
    """Joins a campaign's channel group and collects what the engine publishes."""

    def __init__(self, campaign_id: int):
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.group = f"campaign.{campaign_id}"
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(self.group, self.channel)

    def drain(self) -> list[dict]:
        import asyncio

        from asgiref.sync import async_to_sync

        async def receive_all() -> list[dict]:
            events = []
            while True:
                try:
                    events.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.3))
                except TimeoutError:
                    return events

        return async_to_sync(receive_all)()
