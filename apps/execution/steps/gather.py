"""Step `funds_gather`: on stop, cancel what is queued and wait for trades in flight; then one
job per maker: `sell` (what it holds, the funding wallet paying the fee), then `sweep` (close
its token accounts, every lamport back); the last sweep enqueues `finish`, which ends the run
(`campaign_complete` or `campaign_finish`) once every maker is empty by the ledger.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from apps.campaigns.models import CampaignRun
from apps.campaigns.transitions import campaign_complete, campaign_finish
from apps.chain import spl
from apps.chain.constants import TOKEN_2022_PROGRAM_ID
from apps.chain.rpc import run_sync
from apps.core.chain import rpc_pool
from apps.core.locking import WALLET_LOCK, advisory_lock
from apps.execution.jobs import JobFailed, NotYet, job_create
from apps.execution.ledger import landed_failed, ledger_write, ledger_written
from apps.execution.lifecycle import summary_update
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.outcomes import Done
from apps.execution.planner import Side
from apps.execution.selectors import ledger_lamports, ledger_tokens, run_makers
from apps.execution.sending import TxSpec, send_once
from apps.execution.trading import fee_policy, run_params, trade_spec
from apps.wallets.models import Wallet


def execute(job: Job) -> Done:
    if job.step == Job.Step.MAIN:
        return _gather_start(job)
    if job.step == Job.Step.FINISH:
        return _gather_finish(job)
    maker = Wallet.objects.get(pk=job.payload["wallet_id"], run_id=job.run_id)
    # Wallet lock: a trade still resolving its transaction finishes before the sell/sweep.
    with advisory_lock(WALLET_LOCK, maker.pk) as held:
        if not held:
            raise NotYet("the maker wallet has a transaction in flight", countdown_s=0.3)
        if job.step == Job.Step.SELL:
            return _gather_sell(job, maker=maker)
        return _gather_sweep(job, maker=maker)


def _gather_start(job: Job) -> Done:
    run = job.run
    # Trades and planner windows not yet started never will: cancel them.
    # A queued job with an execution may have a transaction in flight: it must resolve it.
    Job.objects.filter(
        run=run,
        type__in=[*Job.TRADE_TYPES, Job.Type.PLAN],
        status=Job.Status.QUEUED,
        executions__isnull=True,
    ).update(status=Job.Status.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())
    if Job.objects.filter(run=run, type__in=Job.TRADE_TYPES, status__in=Job.LIVE).exists():
        raise NotYet("trades are still in flight", countdown_s=0.5)
    if Job.objects.filter(run=run, type=Job.Type.DISTRIBUTE, status__in=Job.LIVE).exists():
        raise NotYet("the distribution is still running", countdown_s=0.5)
    makers = run_makers(run)

    def write() -> None:
        for maker in makers:
            job_create(
                run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence=f"sell-{maker.pk}",
                step=Job.Step.SELL, payload={"wallet_id": maker.pk},
            )  # fmt: skip
        if not makers:
            job_create(
                run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence="finish", step=Job.Step.FINISH
            )

    return Done(result={"makers": len(makers)}, write=write)


def _gather_sell(job: Job, *, maker: Wallet) -> Done:
    run = job.run
    params = run_params(run)
    funding = run.campaign.funding_wallet
    mint = run.campaign.token.mint
    tokens = ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint)

    def next_step() -> None:
        job_create(
            run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence=f"sweep-{maker.pk}",
            step=Job.Step.SWEEP, payload={"wallet_id": maker.pk},
        )  # fmt: skip

    if tokens <= 0 and not job.executions.exists():
        return Done(result={"skipped": "nothing to sell"}, write=next_step)
    # The funding wallet pays the fee, so the maker's SOL all comes back.
    spec = trade_spec(
        run=run, params=params, maker=maker, side=Side.SELL, amount=tokens, payer=funding
    )
    execution = send_once(job=job, network=run.campaign.network, spec=spec)
    if execution.status != Execution.Status.LANDED:
        raise landed_failed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not ledger_written(execution):
            deltas = ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE,
                wallets=[funding, maker], mint=mint,
            )  # fmt: skip
            swap = deltas[maker.pk] + balances.token_accounts_lamports_delta(owner=maker.address)
            tokens_sold = -balances.token_delta(owner=maker.address, mint=mint)
            Execution.objects.filter(pk=execution.pk).update(
                sol_out_lamports=swap, token_in_raw=tokens_sold
            )
            CampaignRun.objects.filter(pk=run.pk).update(
                volume_lamports=F("volume_lamports") + swap,
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        next_step()

    return Done(result={"signature": execution.signature}, write=write,
                event={"side": "sell", "signature": execution.signature})  # fmt: skip


def _gather_sweep(job: Job, *, maker: Wallet) -> Done:
    run = job.run
    params = run_params(run)
    funding = run.campaign.funding_wallet
    owner, destination = Pubkey.from_string(maker.address), Pubkey.from_string(funding.address)
    network = run.campaign.network

    def finish_step() -> None:
        # Row lock on the run: concurrent sweeps agree on which one is last.
        CampaignRun.objects.select_for_update().filter(pk=run.pk).first()
        makers = Wallet.objects.filter(run_id=run.pk, kind=Wallet.Kind.MAKER).count()
        swept = (
            Job.objects.filter(
                run=run,
                type=Job.Type.FUNDS_GATHER,
                step=Job.Step.SWEEP,
                status=Job.Status.SUCCEEDED,
            )
            .exclude(pk=job.pk)
            .count()
        )
        if swept + 1 >= makers:
            job_create(
                run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence="finish", step=Job.Step.FINISH
            )

    async def instructions(rpc) -> list:
        balance = (await rpc.call("getBalance", lambda c: c.get_balance(owner))).value
        out = []
        # SPL Token and Token-2022 accounts alike (a CPMM or pump.fun token may be either).
        for program in (spl.TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            accounts = await rpc.call(
                "getTokenAccountsByOwner",
                lambda c, program=program: c.get_token_accounts_by_owner(
                    owner, TokenAccountOpts(program_id=program)
                ),
            )
            for keyed in accounts.value:
                state = spl.decode_token_account(bytes(keyed.account.data))
                if state.amount != 0:
                    raise JobFailed(
                        f"Maker {maker.address} still holds {state.amount} raw tokens.",
                        code="tokens_left",
                    )
                out.append(spl.close_account(account=keyed.pubkey, destination=destination,
                                             owner=owner, token_program=program))  # fmt: skip
        if balance:
            out.append(spl.sol_transfer(source=owner, destination=destination, lamports=balance))
        return out

    if not job.executions.exists():
        probe = run_sync(instructions(rpc_pool(network)))
        if not probe:
            return Done(result={"skipped": "nothing left"}, write=finish_step)
    execution = send_once(
        job=job, network=network,
        spec=TxSpec(
            payer=funding, signers=[maker], wallet=maker, side=Execution.Side.TRANSFER,
            instructions=instructions, fee_policy=fee_policy(params),
            compute_unit_limit=20_000,
        ),
    )  # fmt: skip
    if execution.status != Execution.Status.LANDED:
        raise landed_failed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not ledger_written(execution):
            deltas = ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.GATHER,
                wallets=[funding, maker],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=run.pk).update(
                gathered_lamports=F("gathered_lamports") + deltas[funding.pk],
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        finish_step()

    return Done(result={"signature": execution.signature}, write=write)


def _gather_finish(job: Job) -> Done:
    run = job.run
    makers = run_makers(run)
    left = {
        m.address: lamports
        for m in makers
        if (lamports := ledger_lamports(run_id=run.pk, wallet_id=m.pk)) != 0
    }
    moved = (
        LedgerEntry.objects.filter(run=run)
        .exclude(kind__in=[LedgerEntry.Kind.FEE, LedgerEntry.Kind.TIP])
        .aggregate(total=Sum("lamports_delta"))["total"]
        or 0
    )
    with transaction.atomic():
        # Price impact (venue fees included): what left the run's wallets other than as fees.
        CampaignRun.objects.filter(pk=run.pk).update(price_impact_lamports=-int(moved))
        summary_update(run.pk, left_in_makers=left)
    if left:
        raise JobFailed(
            f"{len(left)} maker wallets still hold lamports after the gather.", code="left"
        )
    # Keep why the run stopped (target, pre-flight, the user's reason) in front.
    why = run.campaign.status_reason.rstrip(".")
    reason = f"{why}; funds gathered." if why else "Funds gathered."
    end = campaign_complete if run.summary.get("completed") else campaign_finish

    def write() -> None:
        # In the job's completion transaction: the run ends exactly when this job succeeds
        # (lock order job → campaign → run; nothing locks them the other way round).
        end(campaign_id=run.campaign_id, reason=reason[:280])

    return Done(result={"finished": True}, write=write)
