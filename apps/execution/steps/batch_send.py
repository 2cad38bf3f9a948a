"""The batch's sending: claimed fresh trades of one network, one per maker wallet, go out
together — the amounts from the ledger in one query, each pool's state and one blockhash read
once, every Execution row committed before any send, the sends and the status polls each as
one JSON-RPC batch, and one write for all landed trades (`outcomes.jobs_succeeded`, which saves
their landed outcome with their amounts: every statement before its commit delays their
events). A trade the batch cannot finish cleanly goes back to the queue for its own task
(`steps.trade`), which resolves whatever was sent by its signature.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings
from solders.signature import Signature

from apps.campaigns.domain import Params
from apps.chain.errors import (
    ChainError,
    DexError,
    PermanentRpcError,
    TransactionRejected,
    TransientRpcError,
)
from apps.chain.rpc import run_sync
from apps.chain.tx import latest_blockhash
from apps.core.chain import ChainUnavailable, rpc_pool
from apps.core.sql import update_rows
from apps.execution.balances import LANDED_FIELDS, TxBalances, record_landed, transactions_balances
from apps.execution.jobs import JobFailed, job_requeue
from apps.execution.lifecycle import stop_when_reached
from apps.execution.models import Execution, Job
from apps.execution.outcomes import Done, job_failed, job_succeeded, jobs_succeeded
from apps.execution.planner import Side
from apps.execution.selectors import ledger_holdings
from apps.execution.sending import (
    TxSpec,
    await_landings,
    build_failed,
    build_many,
    new_execution,
    rejected,
    send_many,
    send_request,
    wants_preflight,
)
from apps.execution.trading import pool_read, trade_amount, trade_done, trade_skipped, trade_spec
from apps.wallets.keystore import wallet_signers
from apps.wallets.models import Wallet

logger = logging.getLogger(__name__)


def batch_send(jobs: list[Job], *, params: dict[int, Params]) -> list[Job]:
    """Send the claimed `jobs` (fresh trades of running runs on one network, one per maker
    wallet; `params` by run id); finishes each one it can and returns the others, back in the
    queue, for their own tasks."""
    return Batch(jobs, params=params).run() if jobs else []


class Batch:
    """One batch's state through its stages: amounts → build → commit → send → confirm.
    A Jito bundle is one too (`steps.bundle_send`), with its own send and its tip shared."""

    def __init__(self, jobs: list[Job], *, params: dict[int, Params]):
        self.jobs, self.params = jobs, params
        self.rpc = rpc_pool(jobs[0].run.campaign.network)
        self.makers = Wallet.objects.in_bulk([job.payload["wallet_id"] for job in jobs])
        self.sides: dict[int, str] = {}
        self.amounts_by_job: dict[int, int] = {}
        self.specs: dict = {}
        self.built: list = []
        self.executions: dict[int, Execution] = {}
        self.back: list[Job] = []

    def run(self) -> list[Job]:
        """Every stage in turn; returns the jobs handed back to their own tasks."""
        # Each stage keeps the trades it could take further; the others are finished or handed
        # back on the way (`self.back`).
        if self.amounts() and self.build() and self.commit():
            sent = self.send()
            if sent:
                self.confirm(sent)
        return self.back

    def hand_back(self, job: Job) -> None:
        job_requeue(job, countdown_s=0, count_attempt=False)
        self.back.append(job)

    def amounts(self) -> bool:
        """What each trade spends, from what its maker holds by the ledger (one query); a
        trade with nothing to spend is done (skipped)."""
        lamports, tokens = ledger_holdings(
            run_ids=[job.run_id for job in self.jobs], wallet_ids=self.makers
        )
        self.lamports_held = lamports
        for job in self.jobs:
            side = Side.BUY if job.type == Job.Type.TRADE_BUY else Side.SELL
            key = (job.run_id, job.payload["wallet_id"])
            have = (
                lamports.get(key, 0)
                if side == Side.BUY
                else tokens.get((*key, job.run.campaign.token.mint), 0)
            )
            amount = trade_amount(job, params=self.params[job.run_id], side=side, held=have)
            if amount <= 0:
                job_succeeded(job, trade_skipped(side))
                continue
            self.sides[job.pk], self.amounts_by_job[job.pk] = side, amount
        self.jobs = [job for job in self.jobs if job.pk in self.amounts_by_job]
        return bool(self.jobs)

    def build(self) -> bool:
        """Build and sign every trade: each pool's state and one blockhash read once, the
        simulations in one JSON-RPC batch. A chain error hands them all back."""
        jobs, makers = self.jobs, self.makers
        # Keys are decrypted only inside this block and dropped when it closes.
        with wallet_signers(makers[job.payload["wallet_id"]] for job in jobs) as by_wallet:
            signers = {job.pk: by_wallet[job.payload["wallet_id"]] for job in jobs}
            try:
                self.specs, self.built = run_sync(self._build_all(signers))
            except (TransientRpcError, ChainError, ChainUnavailable):
                for job in jobs:
                    self.hand_back(job)  # the single-job path retries, or fails it with the reason
                return False
        return True

    async def _build_all(self, signers: dict) -> tuple[dict, list]:
        rpc, jobs = self.rpc, self.jobs
        pools = {job.run.campaign.pool_id: job.run.campaign for job in jobs}
        # Each pool's state once, and the blockhash, at the same time.
        *states, recent = await asyncio.gather(
            *(
                pool_read(rpc, pool_dex=campaign.pool.dex, pool_address=campaign.pool.address,
                          mint=campaign.token.mint)
                for campaign in pools.values()
            ),
            latest_blockhash(rpc=rpc),
        )  # fmt: skip
        state = dict(zip(pools, states, strict=True))
        specs = {job.pk: self.spec(job, pool_state=state[job.run.campaign.pool_id]) for job in jobs}
        built = await build_many(
            rpc=rpc, items=[(specs[job.pk], signers[job.pk], []) for job in jobs], recent=recent
        )
        return specs, built

    def spec(self, job: Job, *, pool_state: tuple, **jito) -> TxSpec:
        """The trade's spec (`jito`: its block engines and tip, for a bundle's tip payer)."""
        return trade_spec(
            run=job.run, params=self.params[job.run_id],
            maker=self.makers[job.payload["wallet_id"]], side=self.sides[job.pk],
            amount=self.amounts_by_job[job.pk], pool_state=pool_state, **jito,
        )  # fmt: skip

    def commit(self) -> bool:
        """The Execution rows of the trades that built, committed before any send; a trade the
        venue or the simulation refuses fails, any other error hands it back."""
        for job, outcome in zip(self.jobs, self.built, strict=True):
            if isinstance(outcome, TransactionRejected | DexError | PermanentRpcError):
                job_failed(job, build_failed(outcome))
            elif isinstance(outcome, BaseException):
                logger.warning("trade handed to its own task", exc_info=outcome)
                self.hand_back(job)
            else:
                execution = new_execution(
                    job=job, spec=self.specs[job.pk], built=outcome, attempt=1
                )
                self.executions[job.pk] = execution
        if not self.executions:
            return False
        # Committed (autocommit) before the sends: a crash from here on is resolved by signature.
        Execution.objects.bulk_create(self.executions.values())
        self.started = time.monotonic()
        self.by_job = {job.pk: job for job in self.jobs}
        return True

    def send(self) -> list[Execution]:
        """Every transaction in one JSON-RPC batch; the ones the node took, marked sent."""
        sending = list(self.executions.values())
        requests = [
            send_request(bytes(e.raw_transaction), preflight=wants_preflight(self.specs[e.job_id]))
            for e in sending
        ]
        try:
            results = run_sync(send_many(rpc=self.rpc, requests=requests))
        except (TransientRpcError, PermanentRpcError, ChainUnavailable) as error:
            results = [error] * len(sending)
        sent = []
        for execution, result in zip(sending, results, strict=True):
            if isinstance(result, TransactionRejected):
                job_failed(self.by_job[execution.job_id], rejected(execution, result))
            elif isinstance(result, BaseException):
                # It may have reached the node: resolved later, by its signature.
                self.hand_back(self.by_job[execution.job_id])
            else:
                sent.append(execution)
        if sent:
            Execution.objects.filter(
                pk__in=[e.pk for e in sent], status=Execution.Status.SIGNED
            ).update(status=Execution.Status.SENT)
        return sent

    def confirm(self, sent: list[Execution]) -> None:
        """One status poll for all until they land (or `EXECUTION_BATCH_CONFIRM_S` passes),
        their balances in one batch, then one write for every landed trade. What is not
        confirmed goes back to its own task."""
        recorded = self._landed(sent)
        # A landed trade's outcome is saved with its amounts in `jobs_succeeded`, one statement
        # fewer before its event; one that landed with an error is saved here (rare).
        update_rows([e for e in recorded if e.status != Execution.Status.LANDED], LANDED_FIELDS)
        succeeded = []
        for execution in recorded:
            job = self.by_job[execution.job_id]
            maker = self.makers[job.payload["wallet_id"]]
            try:
                done = trade_done(execution, run=job.run, maker=maker, side=self.sides[job.pk])
            except JobFailed as failure:  # landed with an error: the fee is charged, nothing else
                job_failed(job, failure)
            else:
                succeeded.append((job, done))
        runs = jobs_succeeded(self.landed_together(succeeded), execution_fields=LANDED_FIELDS)
        stop_when_reached(runs, params=self.params)
        finished = {execution.job_id for execution in recorded}
        for execution in sent:
            if execution.job_id not in finished:
                # Not confirmed before its blockhash expired, or not served yet: resolved by its
                # signature on the single-job path (expired → a new transaction).
                self.hand_back(self.by_job[execution.job_id])

    def landed_together(self, succeeded: list[tuple[Job, Done]]) -> list[tuple[Job, Done]]:
        """What trades that landed together share (a bundle: its tip); a batch: nothing."""
        return succeeded

    def _landed(self, sent: list[Execution]) -> list[Execution]:
        """The sent transactions that landed, with their outcome recorded on them (not saved:
        see `confirm`)."""
        signatures = {e.pk: Signature.from_string(e.signature) for e in sent}
        try:
            landed = run_sync(
                await_landings(
                    rpc=self.rpc, signatures=list(signatures.values()),
                    last_valid_block_height=min(e.last_valid_block_height for e in sent),
                    give_up_s=settings.EXECUTION_BATCH_CONFIRM_S,
                )
            )  # fmt: skip
        except (TransientRpcError, ChainUnavailable):
            landed = set()  # not known yet: each is resolved by its signature on its own task
        confirmed = [e for e in sent if signatures[e.pk] in landed]
        try:
            balances = run_sync(
                transactions_balances(
                    rpc=self.rpc, signatures=[signatures[e.pk] for e in confirmed]
                )
            )
        except (TransientRpcError, PermanentRpcError, ChainUnavailable):
            balances = [None] * len(confirmed)  # each is read again on its own task
        recorded = []
        for execution, found in zip(confirmed, balances, strict=True):
            if isinstance(found, TxBalances):
                execution.fresh = True  # sent by this batch under the job's lock: no ledger yet
                recorded.append(record_landed(execution, found, started=self.started))
        return recorded
