"""Dashboard fixtures: alice's and bob's token/pool/wallet set-ups (the campaigns suite's),
campaigns with runs, executions and jobs written straight as rows (the engine's output), and
a logged-in client per persona."""

import itertools

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone
from solders.keypair import Keypair

from apps.campaigns.models import CampaignRun
from apps.execution.models import Execution, Job
from apps.wallets.models import Wallet
from tests.campaigns.conftest import PARAMS, SOL, FakeReader, Setup, make_campaign

__all__ = ["PARAMS", "SOL", "Setup", "make_campaign"]

_sequence = itertools.count(1)


@pytest.fixture
def chain(monkeypatch):
    from apps.wallets import balances as chain_balances

    reader = FakeReader()
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: reader)
    return reader


@pytest.fixture
def alice_setup(alice):
    return Setup(alice)


@pytest.fixture
def bob_setup(bob):
    return Setup(bob)


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def make_job(run, *, type: str = "trade_buy", status: str = "succeeded") -> Job:
    n = next(_sequence)
    return Job.objects.create(
        run=run, queue="trade.buy", type=type, status=status,
        idempotency_key=f"run:{run.pk}:{type}:test-{n}",
    )  # fmt: skip


def make_trade(run, *, side: str = "buy", lamports: int = SOL // 50, status: str = "landed",
               maker=None, created_at=None) -> Execution:  # fmt: skip
    """A trade job and its landed execution, as the engine writes them."""
    job = make_job(run, type=f"trade_{side}")
    maker = maker or Wallet.objects.create(
        owner=run.campaign.owner, address=str(Keypair().pubkey()), kind=Wallet.Kind.MAKER,
        encrypted_secret=b"not-a-real-key", run_id=run.pk,
    )  # fmt: skip
    execution = Execution.objects.create(
        job=job, run=run, attempt=1, signature=str(Keypair().sign_message(b"trade %d" % job.pk)),
        status=status, side=side, wallet=maker, fee_lamports=5_000,
        sol_in_lamports=lamports if side == "buy" else 0,
        sol_out_lamports=lamports if side == "sell" else 0,
    )  # fmt: skip
    # The run's counters move with each trade, as the engine moves them.
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


def now():
    return timezone.now()
