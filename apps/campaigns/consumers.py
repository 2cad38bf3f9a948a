"""The campaign page's WebSocket: `/ws/campaigns/<id>/`.

Authenticate (the session, or a simplejwt access token in the `token` query parameter for API
clients, which need no Origin header: apps.core.websocket), check that the user owns the
campaign, join `campaign.<id>`, send the current state, then forward every event as rendered
out-of-band partials. Nothing else happens here.

Every message is JSON: `{"type": <event>, "html": <partials with hx-swap-oob>, "event": {...}}`;
`type` is `state` for the snapshot sent on connect, else the engine's event name
(`job_started`, `job_completed`, `job_failed`, `stats`) or `run_status_changed`.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from apps.campaigns import realtime, selectors
from apps.campaigns.models import Campaign
from apps.core import metrics
from apps.core.consumers import CLOSE_POLICY, ListenOnlyConsumer
from apps.core.errors import NotFound

# Engine event fields worth passing on to API clients (never anything secret: ids, amounts,
# public signatures and addresses only).
EVENT_FIELDS = (
    "campaign_id", "run_id", "job_id", "job_type", "status", "side", "signature",
    "sol_lamports", "token_raw", "fee_lamports", "error", "run_status", "status_reason",
    "volume_lamports", "trades_total", "trades_succeeded", "trades_failed", "jobs",
)  # fmt: skip


def _owned_campaign(user, campaign_id: int) -> Campaign | None:
    try:
        return selectors.campaign_get(owner=user, campaign_id=campaign_id)
    except NotFound:
        return None


class CampaignConsumer(ListenOnlyConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is not None and not user.is_authenticated:
            user = None
        campaign_id = int(self.scope["url_route"]["kwargs"]["campaign_id"])
        campaign = None
        if user is not None:
            campaign = await database_sync_to_async(_owned_campaign)(user, campaign_id)
        if campaign is None:
            # Anonymous, another user's campaign, or none at all: one answer for all three.
            await self.close(code=CLOSE_POLICY)
            return
        self.user, self.campaign_id = user, campaign_id
        self.group = realtime.campaign_group(campaign_id)
        # Join before rendering the snapshot: an event published in between is then sent after
        # the snapshot (possibly repeating it), never lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").inc()
        await self._push("state", realtime.LIVE_PARTS, {})

    async def disconnect(self, code):
        if getattr(self, "group", None):
            metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").dec()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _push(self, kind: str, parts: tuple[str, ...], event: dict) -> None:
        html = await database_sync_to_async(self._render)(parts)
        if html is None:
            await self.close(code=CLOSE_POLICY)  # the campaign was deleted
            return
        payload = {key: event[key] for key in EVENT_FIELDS if key in event}
        await self.send_json({"type": kind, "html": html, "event": payload})

    def _render(self, parts: tuple[str, ...]) -> str | None:
        campaign = _owned_campaign(self.user, self.campaign_id)
        return None if campaign is None else realtime.render_live(campaign, parts)

    # Group message handlers (the `type` of a group message names the method).

    async def campaign_event(self, event):
        """The run engine's events (`type: campaign.event`, the name in `event`)."""
        await self._push(event.get("event", "stats"), realtime.parts_for_event(event), event)

    async def run_status_changed(self, event):
        await self._push("run_status_changed", realtime.parts_for_event(event), event)
