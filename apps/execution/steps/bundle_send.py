"""Jito bundles: a slice of one Jito run's trades (distinct makers) goes out as bundles of up
to `BUNDLE_TRADES` swaps, the tip inside the last one, all landing or none.

Why 4 swaps with the tip inside the last one, rather than a funding transfer (carrying the
tip) and 4 swaps: every transaction costs its 5,000-lamport signature fee, so the transfer
adds 1,250 lamports per trade, while the makers are already funded by the run's distribution
(a few transfers per transaction, 5,000 / 20 or so lamports per maker, once). And a tip
inside a swap is only paid when that swap lands; a tip in a transaction of its own can be
unbundled and paid for nothing on mainnet. So the bundle is the swaps, the tip paid by the
maker with the most lamports to spare (its transaction goes last), and the ledger shares the
tip between the bundle's trades (`ledger.tip_shared`).

The stages are the batch's (`steps.batch_send`): amounts, build (each transaction simulated
alone), commit every Execution row before the send, then one `sendBundle` through the
campaign's block engines in rotation (`JitoRotation`, each within its budget). A bundle the
block engine reports Failed landed nothing (all or nothing): its executions are `failed` and
its trades retried each on its own path (`steps.trade`), where a trade that fails alone
fails, and the others land.
"""

from __future__ import annotations

from solders.transaction import VersionedTransaction

from apps.campaigns.domain import Params
from apps.chain.errors import BundleRejected, PermanentRpcError, TransientRpcError
from apps.chain.rpc import run_sync
from apps.core.chain import ChainUnavailable
from apps.execution.jobs import job_requeue
from apps.execution.ledger import tip_shared
from apps.execution.models import Execution, Job
from apps.execution.outcomes import Done
from apps.execution.planner import Side
from apps.execution.steps.batch_send import Batch
from apps.execution.trading import BUNDLE_TRADES, jito_client, tip_for


def bundle_send(jobs: list[Job], *, params: dict[int, Params]) -> list[Job]:
    """Send the claimed fresh trades of Jito runs as bundles of up to `BUNDLE_TRADES`, one
    run's trades per bundle (the tip is the run's); returns those handed back to their own
    tasks."""
    by_run: dict[int, list[Job]] = {}
    for job in jobs:
        by_run.setdefault(job.run_id, []).append(job)
    back: list[Job] = []
    for run_jobs in by_run.values():
        for start in range(0, len(run_jobs), BUNDLE_TRADES):
            back += _Bundle(run_jobs[start : start + BUNDLE_TRADES], params=params).run()
    return back


class _Bundle(Batch):
    """A batch whose transactions go out as one Jito bundle."""

    def __init__(self, jobs: list[Job], *, params: dict[int, Params]):
        super().__init__(jobs, params=params)
        run_params = params[jobs[0].run_id]
        self.jito = jito_client(network=jobs[0].run.campaign.network, region=run_params.jito_region)
        # One tip per bundle, in the campaign's range, the same whatever retries the batch.
        self.tip = tip_for(params=run_params, job_id=jobs[0].pk)
        self.payer: Job | None = None
        self.bundle_id = ""

    def amounts(self) -> bool:
        """The batch's amounts; then the tip payer: the maker with the most lamports left
        after its trade, its transaction last."""
        if not super().amounts():
            return False

        def spare(job: Job) -> int:
            held = self.lamports_held.get((job.run_id, job.payload["wallet_id"]), 0)
            return held - (self.amounts_by_job[job.pk] if self.sides[job.pk] == Side.BUY else 0)

        self.payer = max(self.jobs, key=spare)
        self.jobs.sort(key=lambda job: job is self.payer)
        return True

    def spec(self, job: Job, *, pool_state: tuple, **jito):
        if job is not self.payer:
            return super().spec(job, pool_state=pool_state)
        return super().spec(job, pool_state=pool_state, jito=self.jito, tip_lamports=self.tip)

    def send(self) -> list[Execution]:
        """The committed transactions as one bundle, the tip payer's last. Without it (its
        trade could not be built) the bundle would pay no tip: none is sent, each trade goes
        to its own task."""
        sending = list(self.executions.values())
        if self.payer is None or self.payer.pk not in self.executions:
            self._none_landed(sending, reason="not sent: the bundle's tip transaction failed")
            return []
        transactions = [VersionedTransaction.from_bytes(bytes(e.raw_transaction)) for e in sending]
        try:
            self.bundle_id = run_sync(self.jito.send_bundle(transactions))
        except BundleRejected as error:
            # Refused outright: nothing was forwarded, nothing can land.
            self._none_landed(sending, reason=f"the block engine refused the bundle: {error}")
            return []
        except (TransientRpcError, PermanentRpcError, ChainUnavailable):
            # It may have reached the engine: each is resolved by its signature on its own task.
            for execution in sending:
                self.hand_back(self.by_job[execution.job_id])
            return []
        Execution.objects.filter(
            pk__in=[e.pk for e in sending], status=Execution.Status.SIGNED
        ).update(status=Execution.Status.SENT, bundle_id=self.bundle_id)
        return sending

    def confirm(self, sent: list[Execution]) -> None:
        """The batch's confirmation, unless the block engine already reports the bundle
        Failed (the localnet's engine decides at once; mainnet's usually says Pending)."""
        try:
            (status,) = run_sync(self.jito.get_inflight_bundle_statuses([self.bundle_id]))
        except (TransientRpcError, PermanentRpcError, ChainUnavailable):
            status = None
        if status is not None and status.status == "Failed":
            self._none_landed(sent, reason="the bundle failed on the block engine")
            return
        super().confirm(sent)

    def landed_together(self, succeeded: list[tuple[Job, Done]]) -> list[tuple[Job, Done]]:
        """Every trade of a landed bundle gets its share of the one tip."""
        shared = tip_shared([done.trade for _, done in succeeded])
        for (_, done), trade in zip(succeeded, shared, strict=True):
            done.trade = trade
            done.event["tip_lamports"] = trade.amounts["tip_lamports"]
        return succeeded

    def _none_landed(self, executions: list[Execution], *, reason: str) -> None:
        """The bundle landed nothing and none of its transactions can land any more (the
        engine refused or failed it, and they were sent nowhere else): their executions are
        `failed` and each trade tries again on its own task, with a new transaction."""
        Execution.objects.filter(pk__in=[e.pk for e in executions]).update(
            status=Execution.Status.FAILED, error={"err": reason, "bundle_id": self.bundle_id}
        )
        for execution in executions:
            job = self.by_job[execution.job_id]
            job_requeue(job, countdown_s=0, count_attempt=True)
            self.back.append(job)
