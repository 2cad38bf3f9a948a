"""The campaign page's WebSocket: `/ws/campaigns/<id>/`.

Authenticate (`apps.accounts.websocket`: the session from our own origins; for API clients a
single-use ticket from `POST /v1/campaigns/<id>/ws-ticket` in `?ticket=`, or an access token in
`?token=`, with any Origin or none; the logs redact both), check that the user owns the
campaign, join this process's feed of it (`apps.campaigns.live`), send the current state, then
forward every event as rendered out-of-band partials. Nothing else happens here.

Ownership is checked when the socket connects and again, with the user re-read, when an event
goes out more than `LIVE_OWNERSHIP_RECHECK_S` after the last check (a suspended user's page
stops getting events); not per event. The feed renders a campaign's events once for all its
sockets in this process, which all send the same HTML; each socket sends from its own queue, on
its own task, so a slow client holds up no other.

Every message is JSON: `{"type": <event>, "html": <partials with hx-swap-oob>, "event": {...}}`;
`type` is `state` for the snapshot sent on connect, else the engine's event name
(`job_started`, `job_completed`, `job_failed`, `stats`, `price`) or `run_status_changed`.
"""

from __future__ import annotations

import asyncio
import time

from channels.db import database_sync_to_async
from django.conf import settings

from apps.accounts.models import User
from apps.accounts.tickets import ws_ticket_redeem
from apps.campaigns import live, realtime, selectors
from apps.campaigns.models import Campaign
from apps.core import metrics
from apps.core.consumers import CLOSE_POLICY, CLOSE_TRY_AGAIN, ListenOnlyConsumer
from apps.core.errors import NotFound

# Engine event fields worth passing on to API clients (never anything secret: ids, amounts,
# public signatures and addresses only).
EVENT_FIELDS = (
    "campaign_id", "run_id", "job_id", "job_type", "status", "side", "signature",
    "sol_lamports", "token_raw", "fee_lamports", "error", "run_status", "status_reason",
    "volume_lamports", "trades_total", "trades_succeeded", "trades_failed", "jobs",
)  # fmt: skip


def _ticket_user(ticket: str, campaign_id: int):
    """The user of a live WebSocket ticket for this campaign, or None."""
    return ws_ticket_redeem(ticket=ticket, campaign_id=campaign_id)


def _owned_campaign(user, campaign_id: int) -> Campaign | None:
    try:
        return selectors.campaign_get(owner=user, campaign_id=campaign_id)
    except NotFound:
        return None


def _still_owned(user_id: int, campaign_id: int) -> bool:
    """The periodic re-check: the user (read again) is active and still owns the campaign."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user is not None and _owned_campaign(user, campaign_id) is not None


class CampaignConsumer(ListenOnlyConsumer):
    # No channel of its own: the process's feed of the campaign subscribes once for all sockets.
    channel_layer_alias = None

    async def connect(self):
        user = self.scope.get("user")
        campaign_id = int(self.scope["url_route"]["kwargs"]["campaign_id"])
        ticket = self.scope.get("ws_ticket")
        if ticket is not None:
            # A ticket names its campaign: only this consumer can redeem it.
            user = await database_sync_to_async(_ticket_user)(ticket, campaign_id)
        elif user is not None and not user.is_authenticated:
            user = None
        campaign = None
        if user is not None:
            campaign = await database_sync_to_async(_owned_campaign)(user, campaign_id)
        if campaign is None:
            # Anonymous, another user's campaign, or none at all: one answer for all three.
            await self.close(code=CLOSE_POLICY)
            return
        self.user, self.campaign_id = user, campaign_id
        self.checked_at = time.monotonic()
        self.outbox: asyncio.Queue = asyncio.Queue()  # (kind, html, event), None: close
        self.behind = False
        # Join before rendering the snapshot: an event published in between is then sent after
        # the snapshot (possibly repeating it), never lost.
        await live.feed_join(campaign_id=campaign_id, socket=self)
        self.joined = True
        await self.accept()
        metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").inc()
        # The snapshot is this socket's own (the state when it connected), not shared.
        html = await database_sync_to_async(realtime.render_snapshot)(campaign_id=campaign_id)
        if await self._send("state", html, {}):
            self.sender = asyncio.create_task(self._send_queued())

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            self.joined = False
            metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").dec()
            if sender := getattr(self, "sender", None):
                sender.cancel()
            await live.feed_leave(campaign_id=self.campaign_id, socket=self)

    def deliver(self, kind: str, html: str | None, event: dict) -> None:
        """From the feed: queue one message for this socket (`live.Socket`)."""
        if self.behind:
            return
        if self.outbox.qsize() >= live.SOCKET_BACKLOG:
            # Too far behind: closed instead (None); its page reconnects to a fresh snapshot.
            self.behind = True
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)
            return
        self.outbox.put_nowait((kind, html, event))

    async def _send_queued(self) -> None:
        while (message := await self.outbox.get()) is not None:
            if time.monotonic() - self.checked_at > settings.LIVE_OWNERSHIP_RECHECK_S:
                if not await database_sync_to_async(_still_owned)(self.user.pk, self.campaign_id):
                    await self.close(code=CLOSE_POLICY)
                    return
                self.checked_at = time.monotonic()
            if not await self._send(*message):
                return
        await self.close(code=CLOSE_TRY_AGAIN)

    async def _send(self, kind: str, html: str | None, event: dict) -> bool:
        if html is None:
            await self.close(code=CLOSE_POLICY)  # the campaign was deleted
            return False
        payload = {key: event[key] for key in EVENT_FIELDS if key in event}
        await self.send_json({"type": kind, "html": html, "event": payload})
        return True
