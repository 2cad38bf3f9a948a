"""A campaign end to end through real Celery workers, the real broker, Postgres and the
localnet: distribute → pre-flight → planned trades → target reached → gather → completed."""

import time

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignRun
from apps.campaigns.services import campaign_sell_only
from apps.execution.models import Execution, Job, LedgerEntry
from apps.wallets.models import Wallet
from tests.support.engine import EventListener, run_to_completion, wait_for, wait_until_completed

pytestmark = pytest.mark.django_db(transaction=True)


def ledger_lamports(run, wallet) -> int:
    return (
        LedgerEntry.objects.filter(run=run, wallet=wallet).aggregate(total=Sum("lamports_delta"))[
            "total"
        ]
        or 0
    )


JITO = {
    "execution_mode": "jito",
    "jito_tip_min_lamports": 1_000,
    "jito_tip_max_lamports": 5_000,
    "jito_region": "mainnet",
}


@pytest.mark.parametrize(
    ("dex", "mode"),
    [("raydium_amm_v4", "legacy"), ("pumpfun", "legacy"), ("raydium_amm_v4", "jito"),
     ("pumpfun", "jito"), ("raydium_cpmm", "legacy"), ("raydium_cpmm", "jito"),
     ("pumpswap", "legacy"), ("pumpswap", "jito")],
)  # fmt: skip
def test_it_runs_a_campaign_to_its_target_and_gathers_every_lamport(setup, workers, dex, mode):
    run_to_target_and_gather(setup, dex=dex, mode=mode)


@pytest.mark.parametrize("mode", ["legacy", "jito"])
def test_a_campaign_on_a_token_2022_cpmm_pool_runs_and_gathers_its_token_accounts(
    setup_token_2022, workers, mode
):
    # The makers' Token-2022 accounts are closed by the gather like SPL Token ones.
    run_to_target_and_gather(setup_token_2022, dex="raydium_cpmm", mode=mode)


def run_to_target_and_gather(setup, *, dex: str, mode: str) -> None:
    campaign = setup.campaign(dex=dex, **(JITO if mode == "jito" else {}))
    funding_before = setup.lamports(setup.wallet.address)
    listener = EventListener(campaign.pk)

    run = run_to_completion(setup, campaign)
    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    assert len(makers) == 3
    # Every maker wallet ends empty: 0 lamports and no token accounts.
    for maker in makers:
        assert setup.lamports(maker.address) == 0
        assert setup.token_accounts(maker.address) == []
        assert ledger_lamports(run, maker) == 0
    # The funding wallet lost exactly fees + price impact, as the ledger says.
    funding_after = setup.lamports(setup.wallet.address)
    assert funding_after - funding_before == ledger_lamports(run, setup.wallet)
    assert funding_before - funding_after == (
        run.fees_lamports + run.tips_lamports + run.price_impact_lamports
    )
    trades = Execution.objects.filter(
        run=run, side__in=["buy", "sell"], job__type__in=["trade_buy", "trade_sell"]
    )
    if mode == "jito":
        # Every trade went in a bundle that paid a tip in the campaign's range, shared between
        # its trades in the ledger as `tip` rows.
        assert not trades.filter(bundle_id="").exists()
        landed_trades = trades.filter(status="landed").values("bundle_id")
        bundles = landed_trades.annotate(t=Sum("tip_lamports"), n=Count("id"))
        assert all(1_000 <= bundle["t"] <= 5_000 for bundle in bundles)
        # A slice's trades shared bundles (up to 4 swaps, one tip).
        assert 1 < max(bundle["n"] for bundle in bundles) <= 4
        tips = LedgerEntry.objects.filter(run=run, kind="tip").aggregate(t=Sum("lamports_delta"))
        assert -tips["t"] == run.tips_lamports == sum(trades.values_list("tip_lamports", flat=True))
    else:
        assert run.tips_lamports == 0 and not trades.exclude(bundle_id="").exists()
    fees = LedgerEntry.objects.filter(run=run, kind="fee").aggregate(t=Sum("lamports_delta"))["t"]
    assert -fees == run.fees_lamports
    assert run.volume_lamports >= 250_000_000
    assert run.trades_succeeded >= 1 and run.trades_failed == 0
    # Every job is terminal; every landed transaction belongs to one job, once.
    assert not Job.objects.filter(run=run, status__in=Job.LIVE).exists()
    landed = Execution.objects.filter(run=run, slot__isnull=False)
    assert landed.values("job").distinct().count() == landed.count()
    # Events reached the campaign's group, on commit, in the documented shape.
    events = [e for e in listener.drain() if e["type"] == "campaign.event"]
    kinds = {e["event"] for e in events}
    assert {"job_started", "job_completed"} <= kinds
    trade = next(e for e in events if e["event"] == "job_completed" and e.get("side") == "buy")
    assert trade["campaign_id"] == campaign.pk and trade["run_id"] == run.pk
    assert trade["job_type"] == "trade_buy" and trade["status"] == "succeeded"
    assert Execution.objects.filter(signature=trade["signature"], status="landed").exists()
    assert trade["sol_lamports"] > 0 and trade["token_raw"] > 0 and trade["fee_lamports"] > 0


def set_raydium_status(setup, status: int) -> None:
    """Flip the pool's AmmInfo status (u64 at offset 0): 4 disables swaps, 6 is swap-only."""
    from solders.account import Account

    address = setup.seeded.raydium.amm
    account = setup.cluster.get_account(address)
    data = bytearray(bytes(account.data))
    data[0:8] = status.to_bytes(8, "little")
    setup.cluster.set_account(
        address,
        Account(account.lamports, bytes(data), account.owner, account.executable,
                account.rent_epoch),
    )  # fmt: skip


def test_the_circuit_breaker_pauses_a_failing_run_and_resume_continues_with_its_makers(
    setup, workers, settings
):
    from apps.campaigns.services import campaign_resume
    from apps.execution.lifecycle import run_engine_resume

    settings.EXECUTION_PLAN_WINDOW_MS = 1_000
    settings.EXECUTION_BUSY_MS = 300
    campaign = setup.campaign(target_volume_sol="0.4")
    run = setup.start(campaign)
    wait_for(lambda: CampaignRun.objects.get(pk=run.pk).trades_succeeded >= 2, timeout=30,
             what="two trades")  # fmt: skip

    set_raydium_status(setup, 4)  # the pool stops swapping: every trade now fails
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == "paused", timeout=30,
             what="the breaker to pause the run")  # fmt: skip

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status_reason == "Circuit breaker: the last 5 trades failed."
    assert run.status == "paused" and run.status_reason == campaign.status_reason
    assert run.trades_failed >= 5
    failed = Job.objects.filter(run=run, status="failed").first()
    assert failed.error["code"] == "venue"
    # Paused: within one planner window nothing trades any more.
    time.sleep(1.5)
    executions = Execution.objects.filter(run=run).count()
    time.sleep(2.0)
    assert Execution.objects.filter(run=run).count() == executions
    assert not Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"],
                                  status__in=Job.LIVE).exists()  # fmt: skip
    makers = set(Wallet.objects.filter(run_id=run.pk).values_list("pk", flat=True))

    set_raydium_status(setup, 6)
    campaign_resume(campaign_id=campaign.pk, actor=setup.user)
    run_engine_resume(run_id=run.pk)  # the campaigns hook
    wait_until_completed(campaign, run)
    assert set(Wallet.objects.filter(run_id=run.pk).values_list("pk", flat=True)) == makers
    assert run.volume_lamports >= 400_000_000
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert setup.lamports(maker.address) == 0
    assert not Job.objects.filter(run=run, status__in=Job.LIVE).exists()


def test_a_dry_run_sends_nothing_yet_records_every_simulated_trade(setup, workers):
    campaign = setup.campaign(mode="dry_run", target_volume_sol="0.15")
    funding_before = setup.lamports(setup.wallet.address)
    signatures_before = len(setup.cluster._records)

    run = run_to_completion(setup, campaign)
    # Nothing was sent: no transaction reached the cluster, balances unchanged, no ledger.
    assert len(setup.cluster._records) == signatures_before
    assert setup.lamports(setup.wallet.address) == funding_before
    assert not LedgerEntry.objects.filter(run=run).exists()
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert setup.lamports(maker.address) == 0
    # Every trade is recorded as simulated, with its quoted amounts.
    simulated = Execution.objects.filter(run=run)
    assert simulated.count() == run.trades_total == run.trades_succeeded > 0
    assert set(simulated.values_list("status", flat=True)) == {"simulated"}
    assert not simulated.filter(signature__isnull=False).exists()
    buys = simulated.filter(side="buy")
    assert buys.exists() and not buys.filter(sol_in_lamports=0).exists()
    assert not buys.filter(token_out_raw=0).exists()
    assert run.volume_lamports >= 150_000_000


def test_a_failed_preflight_stops_the_run_with_its_reason_and_gathers_the_funding(setup, workers):
    campaign = setup.campaign()
    funding_before = setup.lamports(setup.wallet.address)
    set_raydium_status(setup, 4)  # the pool does not swap

    run = setup.start(campaign)
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status in ("stopped", "failed"),
        timeout=30, what="the run to stop",
    )  # fmt: skip

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status == "stopped"
    assert campaign.status_reason.startswith("Pre-flight failed: ")
    assert campaign.status_reason.endswith("; funds gathered.")
    assert Job.objects.get(run=run, type="preflight").status == "failed"
    assert not Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"]).exists()
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert setup.lamports(maker.address) == 0
    # Only fees were spent: the funding transaction (1 signature) and one sweep of the 3
    # makers (4: the funding wallet pays, each maker signs its transfer).
    assert run.price_impact_lamports == 0
    spent = funding_before - setup.lamports(setup.wallet.address)
    assert spent == run.fees_lamports == 5_000 + 4 * 5_000


def test_a_run_continues_through_the_second_endpoint_when_the_primary_goes_down(
    setup, workers, chain, settings
):
    from apps.localnet.server import start_server

    secondary = start_server(cluster=chain.cluster)  # a second node of the same cluster
    try:
        settings.SOLANA_RPC_URLS = {
            **settings.SOLANA_RPC_URLS, "localnet": [chain.url, secondary.url],
        }  # fmt: skip
        campaign = setup.campaign(target_volume_sol="0.4")
        run = setup.start(campaign)
        wait_for(lambda: CampaignRun.objects.get(pk=run.pk).trades_succeeded >= 2, timeout=30,
                 what="two trades")  # fmt: skip

        chain.faults.down = True  # the primary stops answering mid-run
        traded = CampaignRun.objects.get(pk=run.pk).trades_succeeded
        wait_until_completed(campaign, run)
    finally:
        secondary.stop()

    assert run.trades_succeeded > traded  # trades landed after the primary went down
    assert not Job.objects.filter(run=run, status__in=["dead", "failed"]).exists()
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert setup.lamports(maker.address) == 0


@pytest.mark.parametrize("dex", ["raydium_amm_v4", "pumpfun", "pumpswap"])
def test_sell_only_stops_the_buys_sells_what_is_held_then_stops_and_gathers(setup, workers, dex):
    campaign = setup.campaign(dex=dex, buy_percent=100, target_volume_sol="1000")
    funding_before = setup.lamports(setup.wallet.address)
    run = setup.start(campaign)
    buys = Execution.objects.filter(run=run, side="buy", status="landed")
    wait_for(lambda: buys.count() >= 2, timeout=60, what="two landed buys")

    switched_at = timezone.now()
    campaign_sell_only(campaign_id=campaign.pk, actor=setup.user, owner=setup.user)
    wait_for(
        lambda: Campaign.objects.get(pk=campaign.pk).status in ("stopped", "failed"),
        timeout=90, what="the sell-only run to sell out and stop",
    )  # fmt: skip

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status == "stopped", campaign.status_reason
    assert campaign.status_reason.startswith("Sell-only: the makers sold everything they held")
    # Planner windows after the switch planned no buy (those already queued could still run).
    assert not Job.objects.filter(run=run, type="trade_buy", created_at__gt=switched_at).exists()
    assert Execution.objects.filter(run=run, side="sell", status="landed").exists()
    for maker in Wallet.objects.filter(run_id=run.pk, kind="maker"):
        assert setup.lamports(maker.address) == 0
        assert setup.token_accounts(maker.address) == []
    funding_after = setup.lamports(setup.wallet.address)
    assert funding_after - funding_before == ledger_lamports(run, setup.wallet)
