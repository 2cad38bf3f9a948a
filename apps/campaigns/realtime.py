"""Campaign events for the browser, sent to the campaign's channel group after commit, and the
live partials they update.

An event names the parts it changes (`parts_for_event`). A web process renders the events of a
campaign for all its sockets there in batches (`render_events`, called by `apps.campaigns.live`
for what arrived while its previous render ran): each part once per batch, at the state after
all of them, so the render rate stays bounded whatever the event rate. A landed trade sends its
one feed row (`trade-row`, prepended by the page, which keeps the newest `TRADE_FEED_SIZE`), not
the whole feed: the message does not grow with the run."""

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


def live_context(campaign: Campaign, parts: tuple[str, ...] = LIVE_PARTS) -> dict:
    """What the live partials read; only the queries the requested parts need."""
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


def _render_part(part: str, context: dict) -> str:
    return render_to_string(f"{DETAIL_TEMPLATE}#{part}", context)


def render_snapshot(*, campaign_id: int) -> str | None:
    """Every live partial, marked `hx-swap-oob`: what a socket gets first; None when the
    campaign is gone."""
    campaign = selectors.campaign_live(campaign_id=campaign_id)
    if campaign is None:
        return None
    context = {**live_context(campaign), "oob": True}
    return "".join(_render_part(part, context) for part in LIVE_PARTS)


def render_events(*, campaign_id: int, events: list[dict]) -> list[str] | None:
    """Each event's partials (`parts_for_event`), in the event's order, for every socket of the
    campaign (all its owner's: each socket checked ownership): the shared parts rendered once
    for the whole batch, at the current state, and each trade's own row (one query for all; a
    skipped trade has none). None when the campaign is gone."""
    campaign = selectors.campaign_live(campaign_id=campaign_id)
    if campaign is None:
        return None
    wanted = [parts_for_event(event) for event in events]
    shared = tuple(dict.fromkeys(part for parts in wanted for part in parts if part != "trade-row"))
    context = {**live_context(campaign, shared), "oob": True}
    rendered = {part: _render_part(part, context) for part in shared}
    row_jobs = [event.get("job_id") for event, parts in zip(events, wanted, strict=True)
                if "trade-row" in parts]  # fmt: skip
    trades = selectors.trades_for_jobs(campaign=campaign, job_ids=row_jobs) if row_jobs else {}
    htmls = []
    for event, parts in zip(events, wanted, strict=True):
        trade, html = trades.get(event.get("job_id")), []
        for part in parts:
            if part != "trade-row":
                html.append(rendered[part])
            elif trade is not None:
                html.append(_render_part(part, {**context, "trade": trade}))
        htmls.append("".join(html))
    return htmls
