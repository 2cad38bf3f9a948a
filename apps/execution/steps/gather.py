"""Step `funds_gather`: on stop, cancel what is queued and wait for trades in flight; then a
`sell` job per maker that holds tokens (the funding wallet paying the fee), and the makers in
`sweep` batches: one transaction per batch closes its makers' token accounts and sends every
lamport back, signed by each of them, as many makers in each as fit in a packet (packed by
the real serialized size); a batch waits for its makers' sells. The last sweep enqueues
`finish`, which ends the run (`campaign_complete` or `campaign_finish`) once every maker is
empty by the ledger.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from solders.account_decoder import UiAccountEncoding
from solders.pubkey import Pubkey
from solders.rpc.config import RpcAccountInfoConfig, RpcTokenAccountsFilterProgramId
from solders.rpc.requests import GetTokenAccountsByOwner
from solders.rpc.responses import GetTokenAccountsByOwnerResp

from apps.campaigns.models import CampaignRun
from apps.campaigns.transitions import campaign_complete, campaign_finish
from apps.chain import spl
from apps.chain.constants import TOKEN_2022_PROGRAM_ID
from apps.chain.errors import ChainError
from apps.chain.rpc import run_sync
from apps.chain.tx import PACKET_BYTES, packet_size
from apps.core.chain import rpc_pool
from apps.core.locking import WALLET_LOCK, advisory_lock, advisory_locks
from apps.execution import domain
from apps.execution.jobs import JobFailed, NotYet, job_create, jobs_create_many
from apps.execution.ledger import landed_failed, ledger_write, ledger_written
from apps.execution.lifecycle import summary_update
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.outcomes import Done
from apps.execution.planner import Side
from apps.execution.selectors import ledger_holdings, ledger_tokens, run_makers
from apps.execution.sending import TxSpec, send_once
from apps.execution.trading import fee_policy, run_params, trade_spec
from apps.tokens.models import TokenProgram
from apps.wallets.models import Wallet

# Compute units of one maker's part of a sweep: a token account's close and a transfer.
SWEEP_CU_PER_MAKER = 20_000


def execute(job: Job) -> Done:
    if job.step == Job.Step.MAIN:
        return _gather_start(job)
    if job.step == Job.Step.FINISH:
        return _gather_finish(job)
    if job.step == Job.Step.SWEEP:
        return _gather_sweep(job)
    maker = Wallet.objects.get(pk=job.payload["wallet_id"], run_id=job.run_id)
    # Wallet lock: a trade still resolving its transaction finishes before the sell.
    with advisory_lock(WALLET_LOCK, maker.pk) as held:
        if not held:
            raise NotYet("the maker wallet has a transaction in flight", countdown_s=0.3)
        return _gather_sell(job, maker=maker)


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
    mint = run.campaign.token.mint
    # Every trade is done: the ledger says who holds tokens, and who ever had a token account.
    _, tokens = ledger_holdings(run_ids=[run.pk], wallet_ids=[m.pk for m in makers])
    holding = [m for m in makers if tokens.get((run.pk, m.pk, mint), 0) > 0]
    traded = {m.pk for m in makers if (run.pk, m.pk, mint) in tokens}
    batches = sweep_batches(run, makers, traded=traded)

    def write() -> None:
        jobs_create_many(
            run_id=run.pk,
            jobs=[
                *({"type": Job.Type.FUNDS_GATHER, "sequence": f"sell-{maker.pk}",
                   "step": Job.Step.SELL, "payload": {"wallet_id": maker.pk}}
                  for maker in holding),
                *({"type": Job.Type.FUNDS_GATHER, "sequence": f"sweep-{index}",
                   "step": Job.Step.SWEEP, "payload": {"wallet_ids": [m.pk for m in batch]}}
                  for index, batch in enumerate(batches)),
            ],
        )  # fmt: skip
        if not batches:
            job_create(
                run_id=run.pk, type=Job.Type.FUNDS_GATHER, sequence="finish", step=Job.Step.FINISH
            )

    return Done(
        result={"makers": len(makers), "sells": len(holding), "sweeps": len(batches)}, write=write
    )


def sweep_batches(run: CampaignRun, makers: list[Wallet], *, traded: set[int]) -> list[list]:
    """The makers in sweep transactions, as many in each as fit in a packet by the serialized
    size of the transaction the sweep sends: per maker, the close of its token account (for
    a maker that traded) and the transfer of its lamports, with its signature."""
    destination = Pubkey.from_string(run.campaign.funding_wallet.address)
    mint = Pubkey.from_string(run.campaign.token.mint)
    program = _token_program(run)

    def instructions(maker: Wallet) -> list:
        owner = Pubkey.from_string(maker.address)
        account = spl.ata_address(owner=owner, mint=mint, token_program=program)
        closes = [
            spl.close_account(account=account, destination=destination, owner=owner,
                              token_program=program)
        ] if maker.pk in traded else []  # fmt: skip
        return [*closes, spl.sol_transfer(source=owner, destination=destination, lamports=1)]

    def size(batch: list[Wallet]) -> int:
        return packet_size(
            payer=destination, instructions=[i for m in batch for i in instructions(m)]
        )

    return domain.packed(makers, size=size, limit=PACKET_BYTES)


def _token_program(run: CampaignRun) -> Pubkey:
    if run.campaign.token.program == TokenProgram.TOKEN_2022:
        return TOKEN_2022_PROGRAM_ID
    return spl.TOKEN_PROGRAM_ID


def _gather_sell(job: Job, *, maker: Wallet) -> Done:
    run = job.run
    params = run_params(run)
    funding = run.campaign.funding_wallet
    mint = run.campaign.token.mint
    tokens = ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint)

    if tokens <= 0 and not job.executions.exists():
        return Done(result={"skipped": "nothing to sell"})
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

    return Done(result={"signature": execution.signature}, write=write,
                event={"side": "sell", "signature": execution.signature})  # fmt: skip


def _gather_sweep(job: Job) -> Done:
    run = job.run
    ids = job.payload["wallet_ids"]
    sells = Job.objects.filter(
        run=run, type=Job.Type.FUNDS_GATHER, step=Job.Step.SELL, status__in=Job.LIVE,
        payload__wallet_id__in=ids,
    )  # fmt: skip
    if sells.exists():
        raise NotYet("the makers' sells are not done yet", countdown_s=0.5)
    makers = list(Wallet.objects.filter(pk__in=ids, run_id=run.pk).order_by("id"))
    # Wallet locks: a transaction of one of them still resolving finishes before the sweep.
    with advisory_locks(WALLET_LOCK, ids) as held:
        if held != set(ids):
            raise NotYet("a maker wallet has a transaction in flight", countdown_s=0.3)
        return _sweep(job, makers=makers)


def _sweep(job: Job, *, makers: list[Wallet]) -> Done:
    """One transaction for the batch: every maker with something left (read from the chain)
    closes its token accounts and sends all its lamports to the funding wallet, which pays."""
    run = job.run
    funding = run.campaign.funding_wallet
    destination = Pubkey.from_string(funding.address)
    network = run.campaign.network
    # Makers already empty sign nothing: a transaction takes exactly its signers' signatures.
    found = run_sync(_sweep_instructions(rpc_pool(network), makers, destination))
    active = [maker for maker in makers if found[maker.pk]]
    if not active and not job.executions.exists():
        return Done(result={"skipped": "nothing left"}, write=lambda: _finish_when_last(job))

    async def instructions(rpc) -> list:
        # As read just now, under the wallet locks: nothing else moves these makers' funds.
        out = [ix for maker in active for ix in found[maker.pk]]
        if packet_size(payer=destination, instructions=out) > PACKET_BYTES:
            # Only if a maker holds token accounts the engine never made: refuse, loudly.
            raise JobFailed(
                "The sweep of these makers does not fit in one transaction.", code="too_large"
            )
        return out

    execution = send_once(
        job=job, network=network,
        spec=TxSpec(
            payer=funding, signers=active, wallet=funding, side=Execution.Side.TRANSFER,
            instructions=instructions, fee_policy=fee_policy(run_params(run)),
            compute_unit_limit=SWEEP_CU_PER_MAKER * max(len(active), 1),
        ),
    )  # fmt: skip
    if execution.status != Execution.Status.LANDED:
        raise landed_failed(execution, payer=funding)
    balances = execution.balances

    def write() -> None:
        if not ledger_written(execution):
            deltas = ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.GATHER,
                wallets=[funding, *makers],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=run.pk).update(
                gathered_lamports=F("gathered_lamports") + deltas[funding.pk],
                fees_lamports=F("fees_lamports") + balances.fee,
            )
        _finish_when_last(job)

    return Done(result={"signature": execution.signature, "makers": len(active)}, write=write)


async def _sweep_instructions(rpc, makers: list[Wallet], destination: Pubkey) -> dict[int, list]:
    """{maker id: the instructions that leave it at 0 lamports}: close every token account
    (SPL Token and Token-2022 alike; refusing if one still holds tokens), then send the whole
    balance. Read for all the makers at once: their balances in one `getMultipleAccounts`,
    their token accounts in one JSON-RPC batch."""
    if not makers:
        return {}
    owners = [Pubkey.from_string(maker.address) for maker in makers]
    accounts = (
        await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(owners))
    ).value
    config = RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64)
    programs = (spl.TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
    bodies = [
        GetTokenAccountsByOwner(owner, RpcTokenAccountsFilterProgramId(program), config)
        for owner in owners
        for program in programs
    ]
    answers = iter(
        await rpc.call_batch("getTokenAccountsByOwner", bodies, GetTokenAccountsByOwnerResp)
    )
    found = {}
    for maker, owner, account in zip(makers, owners, accounts, strict=True):
        out = []
        for program in programs:
            answer = next(answers)
            if isinstance(answer, ChainError):
                raise answer
            for keyed in answer.value:
                state = spl.decode_token_account(bytes(keyed.account.data))
                if state.amount != 0:
                    raise JobFailed(
                        f"Maker {maker.address} still holds {state.amount} raw tokens.",
                        code="tokens_left",
                    )
                out.append(spl.close_account(account=keyed.pubkey, destination=destination,
                                             owner=owner, token_program=program))  # fmt: skip
        if account is not None and account.lamports:
            out.append(
                spl.sol_transfer(source=owner, destination=destination, lamports=account.lamports)
            )
        found[maker.pk] = out
    return found


def _finish_when_last(job: Job) -> None:
    """Enqueue `finish` when this is the last sweep batch to succeed."""
    # Row lock on the run: concurrent sweeps agree on which one is last.
    CampaignRun.objects.select_for_update().filter(pk=job.run_id).first()
    sweeps = Job.objects.filter(run_id=job.run_id, type=Job.Type.FUNDS_GATHER, step=Job.Step.SWEEP)
    if not sweeps.exclude(pk=job.pk).exclude(status=Job.Status.SUCCEEDED).exists():
        job_create(
            run_id=job.run_id, type=Job.Type.FUNDS_GATHER, sequence="finish", step=Job.Step.FINISH
        )


def _gather_finish(job: Job) -> Done:
    run = job.run
    makers = run_makers(run)
    lamports, _ = ledger_holdings(run_ids=[run.pk], wallet_ids=[m.pk for m in makers])
    left = {m.address: held for m in makers if (held := lamports.get((run.pk, m.pk), 0)) != 0}
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
