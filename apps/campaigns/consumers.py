"""The campaign page's WebSocket: `/ws/campaigns/<id>/`.

Authenticate (the session, or a simplejwt access token in the `token` query parameter for API
clients), check that the user owns the campaign, join `campaign.<id>`, send the current state,
then forward every event as rendered out-of-band partials. Nothing else happens here.

Ownership is checked when the socket connects and again, with the user re-read, when an event
arrives more than `LIVE_OWNERSHIP_RECHECK_S` after the last check (a suspended user's page stops
getting events); not per event. An event's partials are rendered once per web process for all
the campaign's sockets (`SharedRenders`), which all send the same HTML.

Every message is JSON: `{"type": <event>, "html": <partials with hx-swap-oob>, "event": {...}}`;
`type` is `state` for the snapshot sent on connect, else the engine's event name
(`job_started`, `job_completed`, `job_failed`, `stats`) or `run_status_changed`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.accounts.models import User
from apps.campaigns import realtime, selectors
from apps.campaigns.models import Campaign
from apps.core import metrics
from apps.core.consumers import CLOSE_POLICY
from apps.core.errors import NotFound
from apps.core.realtime import campaign_group

# Engine event fields worth passing on to API clients (never anything secret: ids, amounts,
# public signatures and addresses only).
EVENT_FIELDS = (
    "campaign_id", "run_id", "job_id", "job_type", "status", "side", "signature",
    "sol_lamports", "token_raw", "fee_lamports", "error", "run_status", "status_reason",
    "volume_lamports", "trades_total", "trades_succeeded", "trades_failed", "jobs",
)  # fmt: skip


def _jwt_user(query_string: bytes):
    """The user of a valid access token in `?token=`, or None."""
    tokens = parse_qs(query_string.decode("latin-1")).get("token")
    if not tokens:
        return None
    auth = JWTAuthentication()
    try:
        user = auth.get_user(auth.get_validated_token(tokens[0].encode()))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    return user if user.is_active else None


def _owned_campaign(user, campaign_id: int) -> Campaign | None:
    try:
        return selectors.campaign_get(owner=user, campaign_id=campaign_id)
    except NotFound:
        return None


def _still_owned(user_id: int, campaign_id: int) -> bool:
    """The periodic re-check: the user (read again) is active and still owns the campaign."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user is not None and _owned_campaign(user, campaign_id) is not None


class SharedRenders:
    """One render per event and campaign for all the sockets of this process that watch the
    campaign: the first to ask renders (in a thread), the others await the same result. The
    result is dropped once every such socket took it (or after `keep_s`, for one that left), so
    a later event with the same content is rendered again."""

    def __init__(self, *, keep_s: float = 5.0):
        self.keep_s = keep_s
        self.sockets: Counter[int] = Counter()  # this process's sockets, by campaign
        self.renders: dict[tuple, list] = {}  # key → [future of the HTML, takers still to come]
        self.count = 0  # renders started

    def join(self, campaign_id: int) -> None:
        self.sockets[campaign_id] += 1

    def leave(self, campaign_id: int) -> None:
        self.sockets[campaign_id] -= 1
        if self.sockets[campaign_id] <= 0:
            del self.sockets[campaign_id]

    async def get(self, *, campaign_id: int, parts: tuple[str, ...], event: dict) -> str | None:
        # Every socket of the group receives the same message: its content is the key.
        key = (campaign_id, parts, json.dumps(event, sort_keys=True, default=str))
        entry = self.renders.get(key)
        if entry is None:
            loop = asyncio.get_running_loop()
            entry = self.renders[key] = [loop.create_future(), self.sockets[campaign_id]]
            self.count += 1
            loop.call_later(self.keep_s, self._drop, key, entry)
            try:
                html = await database_sync_to_async(realtime.render_event)(
                    campaign_id=campaign_id, parts=parts, job_id=event.get("job_id")
                )
            except BaseException as error:
                self._drop(key, entry)
                entry[0].set_exception(error)
                entry[0].exception()  # retrieved: the waiters re-raise it
                raise
            entry[0].set_result(html)
        entry[1] -= 1
        if entry[1] <= 0:
            self._drop(key, entry)
        return await asyncio.shield(entry[0])

    def _drop(self, key: tuple, entry: list) -> None:
        if self.renders.get(key) is entry:
            del self.renders[key]


SHARED_RENDERS = SharedRenders()


class CampaignConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            user = await database_sync_to_async(_jwt_user)(self.scope.get("query_string", b""))
        campaign_id = int(self.scope["url_route"]["kwargs"]["campaign_id"])
        campaign = None
        if user is not None:
            campaign = await database_sync_to_async(_owned_campaign)(user, campaign_id)
        if campaign is None:
            # Anonymous, another user's campaign, or none at all: one answer for all three.
            await self.close(code=CLOSE_POLICY)
            return
        self.user, self.campaign_id = user, campaign_id
        self.checked_at = time.monotonic()
        self.group = campaign_group(campaign_id)
        # Join before rendering the snapshot: an event published in between is then sent after
        # the snapshot (possibly repeating it), never lost.
        await self.channel_layer.group_add(self.group, self.channel_name)
        SHARED_RENDERS.join(campaign_id)
        await self.accept()
        metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").inc()
        # The snapshot is this socket's own (the state when it connected), not shared.
        html = await database_sync_to_async(realtime.render_event)(
            campaign_id=campaign_id, parts=realtime.LIVE_PARTS, job_id=None
        )
        await self._send("state", html, {})

    async def disconnect(self, code):
        if getattr(self, "group", None):
            metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").dec()
            SHARED_RENDERS.leave(self.campaign_id)
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _push(self, kind: str, parts: tuple[str, ...], event: dict) -> None:
        if time.monotonic() - self.checked_at > settings.LIVE_OWNERSHIP_RECHECK_S:
            if not await database_sync_to_async(_still_owned)(self.user.pk, self.campaign_id):
                await self.close(code=CLOSE_POLICY)
                return
            self.checked_at = time.monotonic()
        html = await SHARED_RENDERS.get(campaign_id=self.campaign_id, parts=parts, event=event)
        await self._send(kind, html, event)

    async def _send(self, kind: str, html: str | None, event: dict) -> None:
        if html is None:
            await self.close(code=CLOSE_POLICY)  # the campaign was deleted
            return
        payload = {key: event[key] for key in EVENT_FIELDS if key in event}
        await self.send_json({"type": kind, "html": html, "event": payload})

    # Group message handlers (the `type` of a group message names the method).

    async def campaign_event(self, event):
        """The run engine's events (`type: campaign.event`, the name in `event`)."""
        await self._push(event.get("event", "stats"), realtime.parts_for_event(event), event)

    async def run_status_changed(self, event):
        await self._push("run_status_changed", realtime.parts_for_event(event), event)
