"""The engine's events for the campaign page (`campaign.<id>` group) and for subscribers.

Shaped `{"type": "campaign.event", "event": <job_started|job_completed|job_failed|stats>,
"campaign_id", "run_id", "job_id", "job_type", ...}`; `job_completed` and `job_failed` add
`status`; trade completions add `side`, `signature`, `sol_lamports`, `token_raw`,
`fee_lamports`, `tip_lamports`, `wallet` (dry run: `simulated`, no signature); `job_failed`
adds `error` (a message for the user); `stats` carries `run_stats()`. (`run_status_changed`
comes from apps.campaigns.) All are sent on commit, a batch's in one go.
"""

from __future__ import annotations

from typing import Any

from apps.core import events
from apps.core.realtime import campaign_group, group_send_many_on_commit
from apps.execution.models import Job


def job_event(job: Job, event: str, **extra: Any) -> None:
    job_events([(job, event, extra)])


def job_events(items: list[tuple[Job, str, dict]]) -> None:
    """Each (job, event, extra) to its campaign's group on commit, all in one go; a trade's
    also to webhook subscribers (`_trade_event`). The group send is registered first: on commit
    the pages get the batch before the webhook subscribers run (a query or two per trade)."""
    messages = [
        (campaign_group(job.run.campaign_id),
         {"type": "campaign.event", "event": event, "campaign_id": job.run.campaign_id,
          "run_id": job.run_id, "job_id": job.pk, "job_type": job.type, **extra})
        for job, event, extra in items
    ]  # fmt: skip
    group_send_many_on_commit(messages)
    for job, event, extra in items:
        if job.type in Job.TRADE_TYPES:
            _trade_event(job, event, extra)


def run_stats_publish(*, campaign_id: int, owner_id: int, stats: dict) -> None:
    """A live run's `stats` (`selectors.run_stats`) to its page and its subscribers."""
    group_send_many_on_commit([
        (campaign_group(campaign_id),
         {"type": "campaign.event", "event": "stats", "campaign_id": campaign_id, **stats}),
    ])  # fmt: skip
    events.emit(
        event_type="run.stats", user_id=owner_id,
        data={"campaign_id": campaign_id, "run_id": stats["run_id"], **stats},
    )  # fmt: skip


def _trade_event(job: Job, event: str, extra: dict) -> None:
    """`trade.landed` / `trade.failed` for subscribers (a simulated or skipped trade is neither)."""
    if event == "job_completed" and extra.get("signature") and not extra.get("simulated"):
        event_type = "trade.landed"
    elif event == "job_failed":
        event_type = "trade.failed"
    else:
        return
    data = {
        "campaign_id": job.run.campaign_id, "run_id": job.run_id, "job_id": job.pk,
        "side": "buy" if job.type == Job.Type.TRADE_BUY else "sell",
        **{key: value for key, value in extra.items() if key != "status"},
    }  # fmt: skip
    events.emit(event_type=event_type, user_id=job.run.campaign.owner_id, data=data)
