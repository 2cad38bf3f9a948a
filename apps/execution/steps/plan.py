"""Step `plan`: the planner's window N. Stop conditions first (target, budget, pause-all,
sell-only sold out, today's volume cap), then the trades due in the next window (with their
ETA, sent as batches: `jobs.trades_enqueue`) and window N+1 at the window's end. Also the
planner's backpressure (`plan_backpressure`), which its task asks before the job is claimed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.campaigns.domain import Params, price_band_breach
from apps.campaigns.models import CampaignRun, RunStatus
from apps.campaigns.transitions import campaign_pause
from apps.core.models import PAUSE_ALL_REASON, SystemSwitch
from apps.core.selectors import switch_enabled
from apps.core.sql import table_name
from apps.execution.jobs import JobCancelled, job_enqueue, jobs_create_many, trades_enqueue
from apps.execution.lifecycle import plan_config, run_stop, stop_reason
from apps.execution.models import Job
from apps.execution.outcomes import Done
from apps.execution.planner import PlanState, Side, plan_window, sold_out
from apps.execution.prices import pool_price
from apps.execution.selectors import volume_since
from apps.execution.trading import batchable

SOLD_OUT_REASON = "Sell-only: the makers sold everything they held."


def plan_window_ms() -> int:
    return settings.EXECUTION_PLAN_WINDOW_MS


def execute(job: Job) -> Done:
    run = job.run  # as read by the claim (its write re-reads it under the row lock)
    if run.status != RunStatus.RUNNING:
        raise JobCancelled(f"the run is {run.status}")
    if run.summary.get("plan_window") != job.window:
        raise JobCancelled("a newer planner window took over (resume)")
    params = Params.from_json(run.campaign.params)
    reason = stop_reason(run, params)
    if reason:
        run_stop(run, reason=reason, completed=True)
        return Done(result={"stopped": reason})
    if switch_enabled(name=SystemSwitch.Name.PAUSE_ALL):
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=PAUSE_ALL_REASON)
        return Done(result={"paused": "pause_all"})
    price = None
    if params.has_price_band:
        # The band is checked with the pool's live price before the window plans anything.
        price = pool_price(pool=run.campaign.pool)
        start = run.summary.get("price_start")
        reason = price_band_breach(
            params=params, start=Fraction(start) if start else None, now=price.lamports_per_token
        )
        if reason:
            campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
            return Done(result={"paused": "price_band", "price_sol": price.price_sol})
    sell_only = bool(run.summary.get("sell_only"))
    if sell_only and sold_out(PlanState.from_json(run.summary["plan"])):
        # Sell-only and every maker sold what it held: stop, so the gather sweeps them.
        run_stop(run, reason=SOLD_OUT_REASON, completed=False)
        return Done(result={"stopped": SOLD_OUT_REASON})
    config = plan_config(params=params, seed=run.seed, sell_only=sell_only)
    window = run.summary["plan_window"]
    now = timezone.now()
    capped = bool(
        params.daily_volume_cap_lamports
        and volume_since(run.pk, day_start(now)) >= params.daily_volume_cap_lamports
    )

    def write() -> None:
        # Row lock: the plan state must advance exactly once per window.
        locked = CampaignRun.objects.select_for_update().get(pk=run.pk)
        if locked.summary.get("plan_window") != window or locked.status != RunStatus.RUNNING:
            return
        now_ms = int(now.timestamp() * 1000)
        state = PlanState.from_json(locked.summary["plan"])
        # Never plan into the past (after a resume, a daily-cap wait or a late window): the
        # planner's clock continues from now.
        epoch_ms = max(locked.summary["plan_epoch_ms"], now_ms - state.clock_ms)
        horizon_ms, trades = now_ms + plan_window_ms(), []
        if capped:
            # Today's volume cap is reached: plan nothing until the next UTC day.
            horizon_ms = int((day_start(now) + timedelta(days=1)).timestamp() * 1000)
        else:
            trades, state = plan_window(config, state, until_ms=horizon_ms - epoch_ms)
        makers = locked.summary["maker_ids"]
        # The window's trades and the next window, in one INSERT.
        created = jobs_create_many(
            run_id=run.pk,
            enqueue=False,
            jobs=[
                *(
                    {
                        "type": Job.Type.TRADE_BUY if trade.side == Side.BUY
                        else Job.Type.TRADE_SELL,
                        "sequence": trade.sequence,
                        "payload": {"wallet_id": makers[trade.wallet], "lamports": trade.lamports},
                        "scheduled_for": _at(epoch_ms + trade.at_ms),
                    }
                    for trade in trades
                ),
                {"type": Job.Type.PLAN, "sequence": window + 1, "window": window + 1,
                 "scheduled_for": _at(horizon_ms)},
            ],
        )  # fmt: skip
        trades_enqueue(
            [job for job in created if job.type in Job.TRADE_TYPES], batch=batchable(params)
        )
        for job in created:
            if job.type == Job.Type.PLAN:
                job_enqueue(job=job)
        locked.summary.update(
            plan=state.to_json(), plan_window=window + 1, plan_epoch_ms=epoch_ms,
            daily_cap_reached=capped,
        )  # fmt: skip
        if price is not None:
            # The run's price at its first window (the band's reference) and at its latest.
            locked.summary.setdefault("price_start", str(price.lamports_per_token))
            locked.summary["price_last"] = str(price.lamports_per_token)
        locked.save(update_fields=["summary", "updated_at"])

    return Done(
        result={"window": window, "daily_cap_reached": capped},
        write=write,
    )


def plan_backpressure(*, job_id: int) -> float | None:
    """The planner's backpressure, which the `plan` task looks at before the job is locked and
    claimed. While trades of the run's earlier windows still wait a whole window past their
    time (the workers are saturated, or a wallet is stuck), its next window waits too: more
    trades would only grow the queue and the wallet contention. Then one statement keeps the
    job queued (touched, so the stuck-job beat leaves it alone) and the task looks again in a
    window's time (the return value, in seconds), with nothing written in between; the
    planner's clock then goes on from that time. None: go on with the window.

    In SQL: on saturated workers a planner window runs once a window for every live run and
    mostly finds that it must wait, and the ORM's version of this statement took longer to
    build and compile than to run."""
    now = timezone.now()
    table = table_name(Job)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS plan SET updated_at = %s "  # noqa: S608 (values are parameters)
            "WHERE plan.id = %s AND plan.type = %s AND plan.status = %s AND EXISTS ("
            f" SELECT 1 FROM {table} AS trade WHERE trade.run_id = plan.run_id"
            " AND trade.type = ANY(%s) AND trade.status = ANY(%s) AND trade.scheduled_for < %s)",
            [now, job_id, Job.Type.PLAN, Job.Status.QUEUED, list(Job.TRADE_TYPES),
             [Job.Status.QUEUED, Job.Status.PROCESSING],
             now - timedelta(milliseconds=plan_window_ms())],
        )  # fmt: skip
        waiting = cursor.rowcount
    return plan_window_ms() / 1000 if waiting else None


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
