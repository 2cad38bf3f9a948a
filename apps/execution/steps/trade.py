"""Step `trade_buy` / `trade_sell`: one trade on its own (a trade a batch or a Jito bundle
could not take, a dry run's; a Jito trade goes as a one-transaction bundle with its own tip).
Under the maker wallet's lock: the amount from the ledger, the idempotent send
(`sending.send_once`), the outcome (`trading.trade_done`). A dry run quotes, builds and
simulates, and records a `simulated` execution.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import F

from apps.campaigns.domain import Params
from apps.campaigns.models import CampaignRun, RunStatus
from apps.chain.errors import DexError, PermanentRpcError, TransactionRejected
from apps.core.chain import rpc_pool
from apps.core.locking import WALLET_LOCK, advisory_lock
from apps.execution.jobs import JobCancelled, JobFailed, NotYet
from apps.execution.models import Execution, Job
from apps.execution.outcomes import Done
from apps.execution.planner import Side
from apps.execution.selectors import ledger_lamports, ledger_tokens, simulated_tokens
from apps.execution.sending import build_signed, send_once
from apps.execution.trading import (
    DRY_RUN,
    JITO,
    jito_client,
    run_params,
    tip_for,
    trade_amount,
    trade_done,
    trade_skipped,
    trade_spec,
)
from apps.wallets.models import Wallet


def execute(job: Job) -> Done:
    run = job.run
    if run.status != RunStatus.RUNNING and not job.executions.exists():
        # Paused or stopping: trades not yet started are dropped (the planner re-plans).
        raise JobCancelled(f"the run is {run.status}")
    params = run_params(run)
    maker = Wallet.objects.get(pk=job.payload["wallet_id"])
    side = Side.BUY if job.type == Job.Type.TRADE_BUY else Side.SELL
    # Wallet lock: one transaction in flight per maker wallet, whatever the planner assumed.
    # A trade due while the maker's previous one is still confirming waits for it here, on the
    # server: re-queueing it costs a message and a claim each time it finds the wallet busy.
    wait_ms = settings.EXECUTION_WALLET_WAIT_MS
    with advisory_lock(WALLET_LOCK, maker.pk, wait_ms=wait_ms) as held:
        if not held:
            raise NotYet("the maker wallet has a transaction in flight", countdown_s=0.3)
        return _trade_locked(job, run=run, params=params, maker=maker, side=side)


def _trade_locked(job: Job, *, run, params: Params, maker: Wallet, side: str) -> Done:
    mint = run.campaign.token.mint
    if params.mode == DRY_RUN:
        return _trade_dry(job, run=run, params=params, maker=maker, side=side)
    attempts = list(job.executions.order_by("attempt"))
    if not attempts:
        if side == Side.BUY:
            held = ledger_lamports(run_id=run.pk, wallet_id=maker.pk)
        else:
            held = ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint)
        amount = trade_amount(job, params=params, side=side, held=held)
        if amount <= 0:
            return trade_skipped(side)
    else:
        amount = int(attempts[0].sol_in_lamports or 0) or int(attempts[0].token_in_raw)
    jito = None
    if params.execution_mode == JITO:
        jito = jito_client(network=run.campaign.network, region=params.jito_region)
    spec = trade_spec(
        run=run, params=params, maker=maker, side=side, amount=amount, jito=jito,
        tip_lamports=tip_for(params=params, job_id=job.pk) if jito else 0,
    )  # fmt: skip
    # A paused or stopping run only resolves the transaction it already signed.
    execution = send_once(
        job=job, network=run.campaign.network, spec=spec,
        allow_new=run.status == RunStatus.RUNNING, attempts=attempts,
    )  # fmt: skip
    return trade_done(execution, run=run, maker=maker, side=side)


def _trade_dry(job: Job, *, run, params: Params, maker: Wallet, side: str) -> Done:
    """dry_run: quote, build, sign and simulate the trade, record it (status `simulated`),
    send nothing. Makers hold nothing in a dry run, so the funding wallet is the simulated
    trader; a sell is simulated when the funding wallet holds the tokens, else only quoted
    (the execution's error says so)."""
    funding = run.campaign.funding_wallet
    rpc = rpc_pool(run.campaign.network)
    if side == Side.BUY:
        amount = int(job.payload["lamports"])
    else:
        amount = simulated_tokens(run_id=run.pk, wallet_id=maker.pk)
        if amount <= 0:
            return Done(result={"skipped": "nothing to sell"})
    quotes: list = []
    spec = trade_spec(
        run=run, params=params, maker=funding, side=side, amount=amount, quotes=quotes
    )
    note = None
    try:
        build_signed(spec=spec, rpc=rpc)
    except TransactionRejected as error:
        note = f"simulation failed: {error.err or error}"
    except (DexError, PermanentRpcError) as error:
        raise JobFailed(f"The trade cannot be made: {error}", code="venue") from None
    if not quotes:
        raise JobFailed("The trade could not be quoted.", code="venue")
    quote = quotes[-1]
    if note is not None and side == Side.BUY:
        raise JobFailed(f"The simulated trade fails: {note}", code="simulation_failed")
    buy = side == Side.BUY

    def write() -> None:
        Execution.objects.create(
            job=job, run_id=run.pk, campaign_id=run.campaign_id, attempt=1,
            status=Execution.Status.SIMULATED,
            side=Execution.Side.BUY if buy else Execution.Side.SELL, wallet=maker,
            sol_in_lamports=quote.amount_in if buy else 0,
            sol_out_lamports=0 if buy else quote.amount_out,
            token_in_raw=0 if buy else quote.amount_in,
            token_out_raw=quote.amount_out if buy else 0,
            error=None if note is None else {"note": note[:300]},
        )  # fmt: skip
        CampaignRun.objects.filter(pk=run.pk).update(
            trades_total=F("trades_total") + 1,
            trades_succeeded=F("trades_succeeded") + 1,
            volume_lamports=F("volume_lamports") + (quote.amount_in if buy else quote.amount_out),
        )

    sol = quote.amount_in if buy else quote.amount_out
    return Done(
        result={"simulated": True, "sol_lamports": sol, "token_raw": quote.amount_out
                if buy else quote.amount_in},
        write=write, event={"side": side, "simulated": True, "sol_lamports": sol},
    )  # fmt: skip
