"""Campaign events for the browser, sent to the campaign's channel group after commit, and the
live partials they update.

An event names the parts it changes (`parts_for_event`); the campaign's sockets in a web
process share one render of them (`render_event`, called once per event and campaign by
`consumers.CampaignConsumer`). A landed trade sends its one feed row (`trade-row`, prepended by
the page, which keeps the newest `TRADE_FEED_SIZE`), not the whole feed: the message does not
grow with the run."""

from __future__ import annotations

from django.template.loader import render_to_string

from apps.admin_ops.selectors import alerts_for_user
from apps.campaigns import charts, selectors
from apps.campaigns.domain import Action, TransitionRefused, transition_target
from apps.campaigns.models import Campaign, CampaignRun, CampaignStatus
from apps.core.realtime import campaign_group, group_send_on_commit


def run_status_publish(*, campaign: Campaign, run: CampaignRun | None) -> None:
    """`run_status_changed`, once the transition's transaction commits."""
    group_send_on_commit(
        campaign_group(campaign.pk),
        {
            "type": "run_status_changed",
            "campaign_id": campaign.pk,
            "status": campaign.status,
            "status_reason": campaign.status_reason,
            "run_id": run.pk if run else None,
            "run_status": run.status if run else None,
        },
    )


# ---------------------------------------------------------------------------------------------
# Live partials: the campaign page's fragments, rendered for the page, an `hx-get` refresh and
# a WebSocket push alike (STYLE rule 11). Each has a stable id; a push marks it out-of-band.

DETAIL_TEMPLATE = "campaigns/detail.html"
LIVE_PARTS = (
    "campaign-head",
    "run-stats",
    "run-progress",
    "job-counts",
    "trade-feed",
    "run-charts",
    "price-chart",
)
# What changes with each event, so a push re-renders (and queries) only that.
PARTS_FOR_EVENT = {
    "job_started": ("job-counts",),
    # A new live price from the pool_prices subscriber.
    "price": ("price-chart",),
    # The charts follow each trade too (one aggregate over the run's indexed executions).
    "trade": ("run-stats", "run-progress", "job-counts", "trade-row", "run-charts"),
    "job_completed": ("run-stats", "run-progress", "job-counts"),
    "job_failed": ("run-stats", "run-progress", "job-counts"),
    "stats": ("run-stats", "run-progress", "job-counts", "run-charts"),
    "run_status_changed": (
        "campaign-head",
        "run-stats",
        "run-progress",
        "job-counts",
        "run-charts",
    ),
}
TRADE_JOB_TYPES = ("trade_buy", "trade_sell")


def campaign_actions(campaign: Campaign) -> list[str]:
    """The controls the campaign's state allows (the transition table decides)."""
    allowed = []
    for action in (Action.START, Action.PAUSE, Action.RESUME, Action.STOP):
        try:
            if transition_target(current=campaign.status, action=action) is not None:
                allowed.append(action.value)
        except TransitionRefused:
            continue
    if campaign.status == CampaignStatus.STOPPING:
        # The gather runs on its own; the control re-queues it when it died or left funds.
        allowed.append("gather")
    return allowed


def run_controls(campaign: Campaign) -> list[str]:
    """The controls that depend on the live run (the campaign page only: one query)."""
    if campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
        return []
    run = campaign.current_run
    return [] if run is None or run.summary.get("sell_only") else ["sell-only"]


def live_context(
    campaign: Campaign, parts: tuple[str, ...] = LIVE_PARTS, *, job_id: int | None = None
) -> dict:
    """What the live partials read; only the queries the requested parts need (`job_id`: the
    trade job whose row `trade-row` shows)."""
    context: dict = {
        "campaign": campaign,
        "feed_size": selectors.TRADE_FEED_SIZE,
        "status": selectors.campaign_status(campaign=campaign),
        "actions": campaign_actions(campaign) + run_controls(campaign),
    }
    if "campaign-head" in parts:
        context["alerts"] = alerts_for_user(user=campaign.owner, campaign=campaign)
    if "trade-feed" in parts:
        context["feed"] = selectors.trade_feed(campaign=campaign)
    if "trade-row" in parts and job_id is not None:
        context["trade"] = selectors.trade_for_job(campaign=campaign, job_id=job_id)
    if "run-charts" in parts:
        minutes = selectors.trade_minutes(campaign=campaign)
        context["volume_chart"] = charts.volume_chart(minutes)
        context["trades_chart"] = charts.trades_chart(minutes)
    if "price-chart" in parts:
        context["price_chart"] = charts.price_chart(*selectors.price_points(campaign=campaign))
    return context


def parts_for_event(event: dict) -> tuple[str, ...]:
    name = event.get("event") or event.get("type")
    if name in ("job_completed", "job_failed") and event.get("job_type") in TRADE_JOB_TYPES:
        name = "trade"
    return PARTS_FOR_EVENT.get(name, ())


def render_live(
    campaign: Campaign, parts: tuple[str, ...] = LIVE_PARTS, *, job_id: int | None = None
) -> str:
    """The requested partials, each marked `hx-swap-oob`, concatenated for one push (a
    `trade-row` only when the job has a trade to show: a skipped one has none)."""
    context = {**live_context(campaign, parts, job_id=job_id), "oob": True}
    return "".join(
        render_to_string(f"{DETAIL_TEMPLATE}#{part}", context)
        for part in parts
        if part != "trade-row" or context.get("trade") is not None
    )


def render_event(*, campaign_id: int, parts: tuple[str, ...], job_id: int | None) -> str | None:
    """An event's partials for every socket of the campaign (they are all its owner's: the
    consumer checked); None when the campaign is gone."""
    campaign = selectors.campaign_live(campaign_id=campaign_id)
    return None if campaign is None else render_live(campaign, parts, job_id=job_id)
