"""Step pre-flight: the run's makers are funded, the pool can be read and a simulated buy
succeeds; then the planner's state is saved and its first window (`plan`) enqueued. A
sell-only run goes from here straight to the gather.
"""

from __future__ import annotations

from django.utils import timezone

from apps.campaigns.selectors import campaign_estimate
from apps.campaigns.transitions import campaign_follow_migration
from apps.chain.errors import ChainError, TransientRpcError, VenueMigrated
from apps.chain.rpc import run_sync
from apps.core.chain import ChainUnavailable, rpc_pool
from apps.core.errors import DomainError
from apps.execution import domain
from apps.execution.jobs import JobFailed, NotYet, job_create
from apps.execution.lifecycle import plan_config, run_stop, summary_update
from apps.execution.models import Job
from apps.execution.outcomes import Done
from apps.execution.planner import PlanState, Side
from apps.execution.selectors import ledger_holdings, run_makers
from apps.execution.sending import build_signed
from apps.execution.trading import DRY_RUN, SELL_ONLY, pool_read, run_params, trade_spec


def execute(job: Job) -> Done:
    run = job.run
    campaign = run.campaign
    params = run_params(run)
    makers = run_makers(run)
    if not makers:
        raise JobFailed("The run has no maker wallets.", code="no_makers")
    # One grouped read for all the makers (a run may have 10,000).
    funded, _ = ledger_holdings(run_ids=[run.pk], wallet_ids=[m.pk for m in makers])
    unfunded = [m.address for m in makers if funded.get((run.pk, m.pk), 0) <= 0]
    if unfunded and params.mode not in (SELL_ONLY, DRY_RUN):
        raise JobFailed(f"{len(unfunded)} maker wallets are not funded.", code="unfunded")
    pool = campaign.pool
    mint = campaign.token.mint
    try:
        run_sync(pool_read(rpc_pool(campaign.network), pool_dex=pool.dex,
                             pool_address=pool.address, mint=mint))  # fmt: skip
    except (TransientRpcError, ChainUnavailable):
        raise
    except VenueMigrated as error:
        if campaign_follow_migration(campaign_id=campaign.pk) is None:
            raise JobFailed(f"The pool cannot be traded: {error}", code="pool") from None
        raise NotYet("the campaign moved to the token's PumpSwap pool", countdown_s=0) from None
    except ChainError as error:
        raise JobFailed(f"The pool cannot be traded: {error}", code="pool") from None
    if params.mode != SELL_ONLY:
        # A dry run simulates as the funding wallet: its makers hold nothing.
        maker = makers[0] if params.mode != DRY_RUN else campaign.funding_wallet
        amount = domain.buy_amount(
            planned=params.trade_size_min_lamports, available=params.maker_funding_lamports,
            minimum=1,
        )  # fmt: skip
        spec = trade_spec(run=run, params=params, maker=maker, side=Side.BUY, amount=amount)
        try:
            # Build = simulate (the compute-unit limit comes from a simulation); nothing is sent.
            build_signed(spec=spec, rpc=rpc_pool(campaign.network))
        except ChainError as error:
            if isinstance(error, TransientRpcError):
                raise
            raise JobFailed(f"A simulated trade fails: {error}", code="simulation") from None
    else:
        # Sell-only: no trades are planned; the gather sells what the makers hold, then
        # sweeps. Outside the job's transaction: campaign_stop locks campaign, then run.
        run_stop(run, reason="Sell-only run: selling what the makers hold.", completed=False)
        return Done(result={"preflight": "ok", "sell_only": True})

    # The estimate's cost per 1 SOL of volume on the pool as it is now, for the run page to
    # show beside what the ledger says the run really cost.
    try:
        estimate, _ = campaign_estimate(campaign=campaign)
    except DomainError:
        estimate = None
    per_sol = estimate.per_sol_volume_lamports if estimate is not None else None

    def write() -> None:
        now_ms = int(timezone.now().timestamp() * 1000)
        config = plan_config(params=params, run=run)
        # The makers (by their index in the plan) are the run's for good: kept for the planner.
        summary_update(
            run.pk, plan=PlanState.start(config).to_json(), plan_epoch_ms=now_ms, plan_window=0,
            maker_ids=[maker.pk for maker in makers],
            estimate_per_sol_volume_lamports=per_sol["total"] if per_sol else None,
            estimate_per_sol_volume_parts=per_sol,
        )  # fmt: skip
        job_create(run_id=run.pk, type=Job.Type.PLAN, sequence=0, window=0)

    return Done(result={"preflight": "ok"}, write=write)
