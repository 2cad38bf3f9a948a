"""Step `distribute`: create the maker wallets (each encrypted key committed before any lamport
moves), then fund them, one funding transaction per `distribute` batch job, each packed with
as many System transfers as fit in a packet (`chain.tx.PACKET_BYTES`, by the real serialized
size); the last batch to finish enqueues the pre-flight.
"""

from __future__ import annotations

from django.db.models import F
from solders.pubkey import Pubkey

from apps.campaigns.models import CampaignRun
from apps.chain import spl
from apps.chain.tx import PACKET_BYTES, packet_size
from apps.execution import domain
from apps.execution.jobs import job_create, jobs_create_many
from apps.execution.ledger import landed_failed, ledger_write, ledger_written
from apps.execution.lifecycle import summary_update
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.outcomes import Done
from apps.execution.selectors import run_makers
from apps.execution.sending import TxSpec, send_once
from apps.execution.trading import DRY_RUN, SELL_ONLY, fee_policy, run_params
from apps.wallets.models import Wallet
from apps.wallets.services import wallets_create_makers


def execute(job: Job) -> Done:
    if job.step == Job.Step.BATCH:
        return _distribute_batch(job)
    run = job.run
    params = run_params(run)
    makers = run_makers(run)
    if not makers:
        # Commits every encrypted key (one transaction) before a single lamport moves.
        makers = wallets_create_makers(
            owner=run.campaign.owner, run_id=run.pk, count=params.maker_count
        )
    # A dry run sends nothing: its makers exist (the flow is the same) but are never funded;
    # a sell-only run buys nothing, so its makers need no funding either.
    unfunded = params.mode in (DRY_RUN, SELL_ONLY)
    lamports = params.maker_funding_lamports
    source = Pubkey.from_string(run.campaign.funding_wallet.address)
    batches = [] if unfunded else fund_batches(source, makers, lamports=lamports)

    def write() -> None:
        if not batches:
            job_create(run_id=run.pk, type=Job.Type.PREFLIGHT, sequence=0)
        jobs_create_many(
            run_id=run.pk,
            jobs=[
                {"type": Job.Type.DISTRIBUTE, "sequence": f"batch-{index}",
                 "step": Job.Step.BATCH,
                 "payload": {"wallet_ids": [m.pk for m in batch], "lamports": lamports}}
                for index, batch in enumerate(batches)
            ],
        )  # fmt: skip
        summary_update(run.pk, maker_count=len(makers), fund_batches=len(batches))

    return Done(result={"makers": len(makers), "batches": len(batches)}, write=write)


def fund_batches(source: Pubkey, makers: list[Wallet], *, lamports: int) -> list[list[Wallet]]:
    """The makers in funding transactions: as many transfers from `source` in each as fit in
    a packet, by the serialized size of the very transaction `distribute_batch_spec` sends."""

    def size(batch: list[Wallet]) -> int:
        return packet_size(payer=source, instructions=_transfers(source, batch, lamports))

    return domain.packed(makers, size=size, limit=PACKET_BYTES)


def _transfers(source: Pubkey, makers: list[Wallet], lamports: int) -> list:
    return [
        spl.sol_transfer(
            source=source, destination=Pubkey.from_string(m.address), lamports=lamports
        )
        for m in makers
    ]


def distribute_batch_spec(job: Job) -> TxSpec:
    """The funding transaction of a distribute batch: one transfer per maker (as many as
    `fund_batches` packed)."""
    run = job.run
    funding = run.campaign.funding_wallet
    makers = list(Wallet.objects.filter(pk__in=job.payload["wallet_ids"]).order_by("id"))
    lamports = int(job.payload["lamports"])
    source = Pubkey.from_string(funding.address)

    async def instructions(rpc) -> list:
        return _transfers(source, makers, lamports)

    return TxSpec(
        payer=funding, signers=[], wallet=funding, side=Execution.Side.TRANSFER,
        instructions=instructions, fee_policy=fee_policy(run_params(run)),
        compute_unit_limit=domain.transfer_compute_units(len(makers)),
    )  # fmt: skip


def _distribute_batch(job: Job) -> Done:
    run = job.run
    funding = run.campaign.funding_wallet
    makers = list(Wallet.objects.filter(pk__in=job.payload["wallet_ids"]).order_by("id"))
    execution = send_once(job=job, network=run.campaign.network, spec=distribute_batch_spec(job))
    if execution.status != Execution.Status.LANDED:
        raise landed_failed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not ledger_written(execution):
            deltas = ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.FUND,
                wallets=[funding, *makers],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=run.pk).update(
                funded_lamports=F("funded_lamports") + sum(deltas[m.pk] for m in makers),
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        # Row lock on the run: concurrent batches agree on which one finishes the distribute.
        CampaignRun.objects.select_for_update().filter(pk=run.pk).first()
        pending = (
            Job.objects.filter(run=run, type=Job.Type.DISTRIBUTE, step=Job.Step.BATCH)
            .exclude(pk=job.pk)
            .exclude(status=Job.Status.SUCCEEDED)
            .exists()
        )
        if not pending:
            job_create(run_id=run.pk, type=Job.Type.PREFLIGHT, sequence=0)

    return Done(
        result={"signature": execution.signature, "makers": len(makers)},
        write=write,
        event={"signature": execution.signature, "fee_lamports": balances.fee},
    )
