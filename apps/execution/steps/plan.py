"""Step `plan`: the planner's window N. Stop conditions first (target, budget, pause-all,
sell-only sold out, today's volume cap), then the trades due in the next window (with their
ETA, sent as batches: `jobs.trades_enqueue`) and window N+1 at the window's end (later for a
run whose fair share of the request budget is under a trade a window). Also the
planner's backpressure (`plan_backpressure`), which its task asks before the job is claimed.

Stopping on target: the planner plans to the run's target (`planner.buy_room`), so the last
trades are sized to the remainder. The traded volume can still end short of the plan (the
pool's fees and price impact on the sells, a failed or skipped trade): once every planned
trade is done and the target is not reached, the plan's volume cap is raised by what is
missing (at least a smallest last buy) and the planner goes on, until the target stop
(`lifecycle.stop_reason`) ends it.
"""

from __future__ import annotations

import math
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
from apps.execution.fairshare import (
    MAX_GAP_WINDOWS,
    Demand,
    demand_per_s,
    network_capacity_per_s,
    run_share_per_s,
)
from apps.execution.jobs import JobCancelled, job_enqueue, jobs_create_many, trades_enqueue
from apps.execution.lifecycle import budget_volume_lamports, plan_config, run_stop, stop_reason
from apps.execution.models import Job
from apps.execution.outcomes import Done
from apps.execution.planner import (
    PlanState,
    Side,
    due_before,
    plan_done,
    plan_window,
    sold_out,
)
from apps.execution.prices import pool_price
from apps.execution.selectors import volume_since
from apps.execution.trading import batchable, slicing

SOLD_OUT_REASON = "Sell-only: the makers sold everything they held."
BUDGET_REASON = "Budget cap reached: the trades it pays for are done."


def plan_window_ms() -> int:
    return settings.EXECUTION_PLAN_WINDOW_MS


def execute(job: Job) -> Done:
    run = job.run  # as read by the claim (its write re-reads it under the row lock)
    if run.status != RunStatus.RUNNING:
        raise JobCancelled(f"the run is {run.status}")
    if run.summary.get("plan_window") != job.window:
        raise JobCancelled("a newer planner window took over (resume)")
    params = Params.from_json(run.campaign.params)
    stopped = _stopped(run, params)
    if stopped is not None:
        return stopped
    price, paused = _price_band(run, params)
    if paused is not None:
        return paused
    sell_only = bool(run.summary.get("sell_only"))
    config = plan_config(params=params, run=run, sell_only=sell_only)
    short_lamports = _short_of_target(run, params, config, sell_only=sell_only)
    if isinstance(short_lamports, Done):
        return short_lamports
    window = run.summary["plan_window"]
    share_per_s = _share_per_s(run, config)
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
        plan = config
        if short_lamports > 0:
            # At least one smallest last buy (and its sell), or nothing could be planned.
            room = max(short_lamports, 2 * config.min_last_lamports)
            locked.summary["volume_cap_lamports"] = state.planned_lamports + room
            plan = plan_config(params=params, run=locked, sell_only=sell_only)
        # Never plan into the past (after a resume, a daily-cap wait or a late window): the
        # planner's clock continues from now.
        epoch_ms = max(locked.summary["plan_epoch_ms"], now_ms - state.clock_ms)
        horizon_ms, trades = now_ms + plan_window_ms(), []
        if capped:
            # Today's volume cap is reached: plan nothing until the next UTC day.
            next_ms = int((day_start(now) + timedelta(days=1)).timestamp() * 1000)
        else:
            trades, state = _plan_within_share(
                locked, plan, state, until_ms=horizon_ms - epoch_ms, share_per_s=share_per_s
            )
            next_ms = now_ms + locked.summary.get("share_gap_ms", plan_window_ms())
        _create_jobs(locked, params, trades, window=window, epoch_ms=epoch_ms,
                     next_ms=next_ms)  # fmt: skip
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


def _stopped(run: CampaignRun, params: Params) -> Done | None:
    """The window's stop conditions: target or budget reached, pause-all, sell-only sold out."""
    reason = stop_reason(run, params)
    if reason:
        run_stop(run, reason=reason, completed=True)
        return Done(result={"stopped": reason})
    if switch_enabled(name=SystemSwitch.Name.PAUSE_ALL):
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=PAUSE_ALL_REASON)
        return Done(result={"paused": "pause_all"})
    if run.summary.get("sell_only") and sold_out(PlanState.from_json(run.summary["plan"])):
        # Sell-only and every maker sold what it held: stop, so the gather sweeps them.
        run_stop(run, reason=SOLD_OUT_REASON, completed=False)
        return Done(result={"stopped": SOLD_OUT_REASON})
    return None


def _price_band(run: CampaignRun, params: Params):
    """The pool's live price (None without a band) and the pause when it left the band."""
    if not params.has_price_band:
        return None, None
    # The band is checked with the pool's live price before the window plans anything.
    price = pool_price(pool=run.campaign.pool)
    start = run.summary.get("price_start")
    reason = price_band_breach(
        params=params, start=Fraction(start) if start else None, now=price.lamports_per_token
    )
    if reason:
        campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
        return price, Done(result={"paused": "price_band", "price_sol": price.price_sol})
    return price, None


def _short_of_target(run: CampaignRun, params: Params, config, *, sell_only: bool) -> int | Done:
    """Lamports of volume still to plan once every planned trade is done and the target is not
    reached (0 while the plan goes on), or the stop when the budget cap pays for no more."""
    if (
        sell_only
        or config.volume_cap_lamports is None
        or not plan_done(config, PlanState.from_json(run.summary["plan"]))
        or Job.objects.filter(run_id=run.pk, type__in=Job.TRADE_TYPES, status__in=Job.LIVE).exists()
    ):
        return 0
    budget = budget_volume_lamports(params=params, run=run)
    if budget is not None and budget <= config.volume_cap_lamports:
        # The planned volume is all the budget cap pays for: stop before it is exceeded.
        run_stop(run, reason=BUDGET_REASON, completed=True)
        return Done(result={"stopped": BUDGET_REASON})
    return params.target_volume_lamports - run.volume_lamports


def _share_per_s(run: CampaignRun, config) -> float | None:
    """The run's fair share of the network's request budget (None: no budget on the network,
    known from the settings without reading the owner, which the job's claim did not)."""
    if network_capacity_per_s(run.campaign.network) is None:
        return None
    owner = run.campaign.owner
    return run_share_per_s(
        network=run.campaign.network,
        demand=Demand(run.pk, owner.pk, demand_per_s(config)),
        user_cap_per_s=None
        if owner.max_trades_per_minute is None
        else owner.max_trades_per_minute / 60,
    )


def _plan_within_share(locked: CampaignRun, plan, state: PlanState, *, until_ms: int,
                       share_per_s: float | None):  # fmt: skip
    """The window's trades, no more than the run's share allows; records in the summary
    whether the share held the run back, and when its next window is due (`share_gap_ms`)."""
    allowed = credit = None
    if share_per_s is not None:
        # Within the share: whole trades this window, the rest carried to the next (a run
        # starts with one trade's credit, and an idle one saves up to two, so a run within its
        # share is never held back by rounding or a short burst). The credit grows by the
        # share over the gap the previous window chose.
        carried = locked.summary.get("share_credit", 1.0)
        gap_ms = locked.summary.get("share_gap_ms", plan_window_ms())
        credit = share_per_s * gap_ms / 1000 + carried
        allowed = int(credit)
    trades, state = plan_window(plan, state, until_ms=until_ms, max_trades=allowed)
    slowed = allowed is not None and due_before(plan, state, until_ms=until_ms)
    left = 1.0 if credit is None else min(credit - len(trades), 2.0)
    locked.summary.update(
        budget_slowed=slowed,
        share_trades_per_minute=None if share_per_s is None else round(60 * share_per_s, 1),
        share_credit=left,
        share_gap_ms=_next_gap_ms(share_per_s, left),
    )
    return trades, state


def _next_gap_ms(share_per_s: float | None, credit: float) -> int:
    """How long until the run's next window: a window's time, or, when the run's share is
    under a trade a window, until its credit makes a whole trade (at most MAX_GAP_WINDOWS
    windows, so a share that grows is taken up soon). With 1,000 runs on one budget each run
    gets a trade every few windows: a window each time would be mostly windows that plan
    nothing, thousands of jobs a minute that take the workers' time from the trades."""
    if not share_per_s or credit >= 1:
        return plan_window_ms()
    # A millisecond more: the credit then makes the trade whatever the float rounding.
    needed_ms = math.ceil((1 - credit) / share_per_s * 1000) + 1
    return min(max(needed_ms, plan_window_ms()), MAX_GAP_WINDOWS * plan_window_ms())


def _create_jobs(locked: CampaignRun, params: Params, trades, *, window: int, epoch_ms: int,
                 next_ms: int) -> None:  # fmt: skip
    """The window's trades and the next window, in one INSERT, then enqueued."""
    makers = locked.summary["maker_ids"]
    created = jobs_create_many(
        run_id=locked.pk,
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
             "scheduled_for": _at(next_ms)},
        ],
    )  # fmt: skip
    trades_enqueue(
        [job for job in created if job.type in Job.TRADE_TYPES], batch=batchable(params),
        **slicing(params),
    )  # fmt: skip
    for job in created:
        if job.type == Job.Type.PLAN:
            job_enqueue(job=job)


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
