"""A web process's live feed of each campaign its pages watch: one channel-layer subscription per
campaign and process (not one per socket), one render per batch of events for all its sockets
here, and a queue per socket.

Why: rendered per event on the consumers' one database thread, with every socket subscribed on
its own, the pages of 10 busy campaigns fell seconds behind (each socket's channel filled up to
channels-redis's capacity and lost messages on the way). Here the events that arrive while a
campaign's render runs wait for the next render, which takes them all at once
(`realtime.render_events`: each part rendered once, at the state after all of them), so the
render rate stays bounded whatever the event rate. A socket's queue is drained by its own task
(`consumers.CampaignConsumer`): a slow client delays only itself, and one that falls
`SOCKET_BACKLOG` messages behind is closed (its page reconnects and starts from a fresh
snapshot).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from apps.campaigns import realtime
from apps.core.realtime import campaign_group

logger = logging.getLogger(__name__)

# Messages a socket may have waiting before it is closed as too slow.
SOCKET_BACKLOG = 1000
# The group messages pages get: the engine's events and the campaign's transitions.
FORWARDED = frozenset({"campaign.event", "run_status_changed"})


class Socket(Protocol):
    def deliver(self, kind: str, html: str | None, event: dict) -> None: ...


class CampaignFeed:
    """One campaign's events in this process: received from its group, rendered in batches,
    handed to every socket (`Socket.deliver`, in the order they were published; `html` is
    None once the campaign is gone)."""

    def __init__(self, campaign_id: int):
        self.campaign_id = campaign_id
        self.sockets: set[Socket] = set()
        self.renders = 0  # batches rendered
        self._pending: list[dict] = []
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._channel: str | None = None
        self.subscribed = asyncio.ensure_future(self._subscribe())

    async def _subscribe(self) -> None:
        layer = get_channel_layer()
        self._channel = await layer.new_channel()
        await layer.group_add(campaign_group(self.campaign_id), self._channel)
        self._tasks = [
            asyncio.create_task(self._receive(layer)),
            asyncio.create_task(self._render()),
        ]

    async def close(self) -> None:
        self.subscribed.cancel()
        for task in self._tasks:
            task.cancel()
        if self._channel is not None:
            await get_channel_layer().group_discard(campaign_group(self.campaign_id), self._channel)

    async def _receive(self, layer) -> None:
        while True:
            message = await layer.receive(self._channel)
            if message.get("type") in FORWARDED:
                self._pending.append(message)
                self._arrived.set()

    async def _render(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            events, self._pending = self._pending, []
            self.renders += 1
            try:
                htmls = await database_sync_to_async(realtime.render_events)(
                    campaign_id=self.campaign_id, events=events
                )
            except Exception:
                # The loop must outlive a failed batch (the database away for a moment): the
                # next render brings the shared parts up to date again.
                logger.exception("live render failed", extra={"campaign_id": self.campaign_id})
                continue
            self.fan_out(events, htmls)

    def fan_out(self, events: list[dict], htmls: list[str] | None) -> None:
        """Every event of the batch, with its partials, to every socket, in order."""
        kinds = [_kind(event) for event in events]
        for socket in list(self.sockets):
            for index, event in enumerate(events):
                socket.deliver(kinds[index], None if htmls is None else htmls[index], event)


def _kind(event: dict) -> str:
    """What a message calls the event: the engine's name (`job_completed`, `stats`, `price`…)
    or the group message's type (`run_status_changed`)."""
    if event.get("type") == "campaign.event":
        return event.get("event", "stats")
    return event["type"]


_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, CampaignFeed]] = (
    weakref.WeakKeyDictionary()
)


def feeds() -> dict[int, CampaignFeed]:
    """This event loop's feeds by campaign (a process serves from one loop; tests run many)."""
    return _feeds.setdefault(asyncio.get_running_loop(), {})


async def feed_join(*, campaign_id: int, socket: Socket) -> CampaignFeed:
    """Hand `socket` the campaign's events from now on (subscribing this process to them
    first if it was not)."""
    running = feeds()
    feed = running.get(campaign_id)
    if feed is None:
        feed = running[campaign_id] = CampaignFeed(campaign_id)
    feed.sockets.add(socket)
    try:
        await asyncio.shield(feed.subscribed)
    except BaseException:
        await feed_leave(campaign_id=campaign_id, socket=socket)
        raise
    return feed


async def feed_leave(*, campaign_id: int, socket: Socket) -> None:
    """Stop handing `socket` the campaign's events; the last socket to leave ends the
    subscription."""
    running = feeds()
    feed = running.get(campaign_id)
    if feed is None or socket not in feed.sockets:
        return
    feed.sockets.discard(socket)
    if not feed.sockets:
        del running[campaign_id]
        await feed.close()
