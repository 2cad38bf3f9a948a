"""Many makers in one run, driven synchronously against the real localnet: every key committed
before a lamport moves, funding transactions packed with transfers up to the packet size, the
gather's sweeps packed too, every maker back at 0 lamports and the ledger equal to the chain
to the lamport."""

import math

import pytest
from django.db.models import Max, Min, Sum
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from apps.campaigns.domain import DISTRIBUTE_TRANSFERS_PER_TX
from apps.campaigns.estimate import SWEEP_MAKERS_PER_TX
from apps.campaigns.services import campaign_stop
from apps.chain import spl
from apps.chain.tx import PACKET_BYTES, packet_size
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.runner import job_execute
from apps.wallets.keystore import wallet_signers
from apps.wallets.models import Wallet
from tests.support.campaigns import SOL
from tests.support.engine import drain

pytestmark = pytest.mark.django_db(transaction=True)
MAKERS = 300
FUNDING = 15_000_000  # 0.015 SOL: a 0.01 SOL trade and the reserve a maker keeps beside it


def started_run(setup):
    setup.user.max_makers = MAKERS
    setup.user.save()
    campaign = setup.campaign(
        maker_count=MAKERS, maker_funding_sol="0.015", trade_size_min_sol="0.01",
        trade_size_max_sol="0.01", target_volume_sol="0.1",
    )  # fmt: skip
    return campaign, setup.start(campaign)


def landed(run, job_type: str) -> list[Execution]:
    return list(Execution.objects.filter(run=run, job__type=job_type, status="landed"))


def transaction_of(execution: Execution) -> VersionedTransaction:
    return VersionedTransaction.from_bytes(bytes(execution.raw_transaction))


def test_the_keys_are_committed_before_any_lamport_moves(setup):
    _, run = started_run(setup)
    [main] = Job.objects.filter(run=run, type="distribute", step="main")

    job_execute(job_id=main.pk)

    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    assert len(makers) == MAKERS
    # Every key is stored (and decrypts to its address); nothing was sent to anyone yet.
    with wallet_signers(makers) as signers:
        assert all(str(signers[m.pk].pubkey()) == m.address for m in makers)
    assert not Execution.objects.filter(run=run).exists()
    assert all(setup.lamports(m.address) == 0 for m in makers)
    batches = Job.objects.filter(run=run, type="distribute", step="batch", status="queued")
    assert sum(len(job.payload["wallet_ids"]) for job in batches) == MAKERS

    drain(run, types=("distribute",))

    # The first transfer came after the last key: every funding transaction is younger.
    first_transfer = Execution.objects.filter(run=run).aggregate(t=Min("created_at"))["t"]
    last_key = Wallet.objects.filter(run_id=run.pk).aggregate(t=Max("created_at"))["t"]
    assert last_key < first_transfer
    assert all(setup.lamports(m.address) == FUNDING for m in makers)


def test_distribution_packs_transfers_to_the_packet_limit(setup):
    _, run = started_run(setup)

    drain(run, types=("distribute",))

    run.refresh_from_db()
    funding = Pubkey.from_string(setup.wallet.address)
    fundings = landed(run, "distribute")
    assert len(fundings) == run.summary["fund_batches"] == math.ceil(MAKERS / 20)
    assert DISTRIBUTE_TRANSFERS_PER_TX == 20  # what the estimate's fees assume
    fundings.sort(key=lambda execution: execution.job_id)
    for index, execution in enumerate(fundings):
        tx = transaction_of(execution)
        wallets = Wallet.objects.filter(pk__in=execution.job.payload["wallet_ids"])
        transfers = [
            spl.sol_transfer(source=funding, destination=Pubkey.from_string(w.address),
                             lamports=FUNDING)
            for w in wallets
        ]  # fmt: skip
        assert len(bytes(tx)) <= PACKET_BYTES
        assert len(tx.signatures) == 1  # the funding wallet's, for all its transfers
        if index < len(fundings) - 1:
            # All but the last batch are full: one more transfer would not fit in the packet.
            more = spl.sol_transfer(
                source=funding, destination=Keypair().pubkey(), lamports=FUNDING
            )
            assert packet_size(payer=funding, instructions=[*transfers, more]) > PACKET_BYTES
    assert run.funded_lamports == MAKERS * FUNDING
    assert {setup.lamports(m.address) for m in Wallet.objects.filter(run_id=run.pk)} == {FUNDING}


def test_the_gather_sweeps_every_maker_to_zero_and_the_ledger_reconciles(setup):
    campaign, run = started_run(setup)
    funding_before = setup.lamports(setup.wallet.address)
    drain(run, types=("distribute", "preflight"))
    # One planner window's trades, so some makers hold tokens (and a token account) at stop.
    [plan0] = Job.objects.filter(run=run, type="plan")
    job_execute(job_id=plan0.pk)
    drain(run, types=("trade_buy", "trade_sell"))
    run.refresh_from_db()
    assert run.trades_succeeded >= 1

    campaign_stop(campaign_id=campaign.pk, actor=setup.user, reason="Enough.")
    drain(run, types=("plan", "trade_buy", "trade_sell", "funds_gather"))

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status == "stopped", campaign.status_reason
    assert not Job.objects.filter(run=run, status__in=["failed", "dead", *Job.LIVE]).exists()
    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    # Every maker at 0 lamports with no token account left, on the chain and by the ledger.
    for maker in makers:
        assert setup.lamports(maker.address) == 0
        assert setup.token_accounts(maker.address) == []
    by_wallet = dict(
        LedgerEntry.objects.filter(run=run).values_list("wallet").annotate(s=Sum("lamports_delta"))
    )
    assert all(by_wallet.get(maker.pk, 0) == 0 for maker in makers)
    # The funding wallet lost exactly the fees and the price impact, as the ledger says.
    funding_after = setup.lamports(setup.wallet.address)
    assert funding_after - funding_before == by_wallet[setup.wallet.pk]
    assert funding_before - funding_after == (
        run.fees_lamports + run.tips_lamports + run.price_impact_lamports
    )
    assert run.gathered_lamports > MAKERS * FUNDING - SOL // 10
    # The sweeps went several makers to a transaction, each within the packet.
    sweeps = Job.objects.filter(run=run, type="funds_gather", step="sweep")
    assert sorted(pk for job in sweeps for pk in job.payload["wallet_ids"]) == sorted(
        m.pk for m in makers
    )
    swept = landed(run, "funds_gather")
    sells = Job.objects.filter(run=run, type="funds_gather", step="sell").count()
    assert len(swept) == sweeps.count() + sells
    # At most what the estimate's fees assume (6 makers that traded fit in one; more that did not).
    assert sweeps.count() <= math.ceil(MAKERS / SWEEP_MAKERS_PER_TX)
    for execution in swept:
        assert len(execution.raw_transaction) <= PACKET_BYTES
