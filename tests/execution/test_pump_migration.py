"""A pump.fun curve that completes while a campaign trades on it: the engine sees the migration
and moves the campaign to the token's PumpSwap pool (or pauses it, if the user chose that)."""

import dataclasses

import pytest
from django.db.models import Sum
from solders.account import Account

from apps.campaigns.models import Campaign, CampaignRun
from apps.chain.dex import pumpfun_state as pfs
from apps.core.models import AuditEvent
from apps.execution.models import Job, LedgerEntry
from apps.localnet.seed import (
    PUMP_INITIAL_REAL_TOKEN_RESERVES,
    PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
    PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES,
)
from apps.wallets.models import Wallet
from tests.support.engine import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

LEFT_ON_THE_CURVE = 60_000_000_000  # raw tokens: the first two or three buys complete it


def nearly_complete(setup) -> pfs.BondingCurve:
    """Rewrite the seeded curve so that only LEFT_ON_THE_CURVE real tokens remain."""
    address = setup.seeded.pumpfun.curve
    account = setup.cluster.get_account(address)
    curve = pfs.BondingCurve.decode(bytes(account.data))
    sold = PUMP_INITIAL_REAL_TOKEN_RESERVES - LEFT_ON_THE_CURVE
    k = PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES * PUMP_INITIAL_VIRTUAL_SOL_RESERVES
    virtual_tokens = PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES - sold
    virtual_sol = k // virtual_tokens
    curve = dataclasses.replace(
        curve,
        virtual_token_reserves=virtual_tokens,
        virtual_quote_reserves=virtual_sol,
        real_token_reserves=LEFT_ON_THE_CURVE,
        real_quote_reserves=virtual_sol - PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
    )
    setup.cluster.set_account(
        address,
        Account(
            account.lamports + curve.real_quote_reserves, curve.encode(), account.owner,
            account.executable, account.rent_epoch,
        ),
    )  # fmt: skip
    return curve


def test_a_campaign_whose_curve_completes_continues_on_pumpswap_and_gathers_everything(
    setup, workers
):
    nearly_complete(setup)
    campaign = setup.campaign(dex="pumpfun", target_volume_sol="0.3")
    quote_vault_before = setup.cluster.token_amount(setup.pumpswap.quote_vault).amount
    funding_before = setup.lamports(setup.wallet.address)

    run = setup.start(campaign)

    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status in ("completed", "failed", "paused"),
        timeout=120, what="the campaign to end",
    )  # fmt: skip
    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status == "completed", (campaign.status_reason, list(
        Job.objects.filter(run=run).exclude(status__in=["succeeded", "cancelled"]).values(
            "type", "status", "error")
    ))  # fmt: skip
    # The curve completed on chain, the campaign moved to the canonical PumpSwap pool.
    curve = pfs.BondingCurve.decode(
        bytes(setup.cluster.get_account(setup.seeded.pumpfun.curve).data)
    )
    assert curve.complete and curve.real_token_reserves == 0
    assert (campaign.pool.dex, campaign.pool.address) == ("pumpswap", str(setup.pumpswap.pool))
    moved = AuditEvent.objects.get(action="campaign.pool_migrated", entity_id=str(campaign.pk))
    assert moved.metadata == {
        "from": str(setup.seeded.pumpfun.curve),
        "to": str(setup.pumpswap.pool),
    }
    # Trading (and the gather's sells) went on on PumpSwap: its SOL vault moved.
    assert setup.cluster.token_amount(setup.pumpswap.quote_vault).amount != quote_vault_before
    assert Job.objects.filter(run=run, error__code="venue_migrated").exists()
    # Stop gathered every maker to 0 lamports with no token accounts; ledger = chain.
    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    assert len(makers) == 3
    for maker in makers:
        assert setup.lamports(maker.address) == 0
        assert setup.token_accounts(maker.address) == []
        total = LedgerEntry.objects.filter(run=run, wallet=maker).aggregate(
            t=Sum("lamports_delta")
        )["t"]
        assert total == 0
    funding = LedgerEntry.objects.filter(run=run, wallet=setup.wallet).aggregate(
        t=Sum("lamports_delta")
    )["t"]
    assert setup.lamports(setup.wallet.address) - funding_before == funding
    assert not Job.objects.filter(run=run, status__in=Job.LIVE).exists()


def test_a_campaign_that_does_not_follow_the_migration_pauses_with_the_reason(setup, workers):
    nearly_complete(setup)
    campaign = setup.campaign(dex="pumpfun", target_volume_sol="0.3", follow_migration=False)

    run = setup.start(campaign)

    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status in ("paused", "completed", "failed"),
        timeout=120, what="the campaign to pause",
    )  # fmt: skip
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert campaign.status_reason == (
        "The pump.fun curve completed: the token trades on PumpSwap now, and this campaign "
        "does not follow it."
    )
    assert campaign.pool.dex == "pumpfun"
    assert CampaignRun.objects.get(pk=run.pk).status == "paused"
    assert not AuditEvent.objects.filter(action="campaign.pool_migrated").exists()
