"""Campaign events for the browser, sent to the campaign's channel group after commit."""

from __future__ import annotations

from apps.campaigns.models import Campaign, CampaignRun
from apps.core.realtime import group_send_on_commit


def campaign_group(campaign_id: int) -> str:
    """The channel group of one campaign (the dashboard's WebSocket consumer joins it)."""
    return f"campaign.{campaign_id}"


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
