"""Push events to browsers through the channel layer, after the transaction commits.

Every group message of the platform goes through `group_send_many_on_commit` (the one send
path): web requests, beat and the engine's workers alike.

Best-effort: a live update or a notice that cannot be delivered (Redis down) is logged and
dropped, never raised into the request or task that caused it; the pages catch up on their next
refresh. After a Redis restart the channel layer still holds connections the server closed: the
first send on one fails (redis-py then drops that connection), so a failed send is tried once
more, on a fresh connection.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.chain.rpc import run_sync
from apps.core.outage import REDIS_DOWN

logger = logging.getLogger(__name__)

NOTICES_GROUP = "notices"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def campaign_group(campaign_id: int) -> str:
    """The channel group of one campaign: its page's sockets join it; the engine's events and
    the campaign's transitions are sent to it."""
    return f"campaign.{campaign_id}"


def _dropped(groups: list[str], error: Exception) -> None:
    logger.warning(
        "realtime publish dropped: redis unavailable",
        extra={"groups": sorted(set(groups))},
        exc_info=error,
    )


async def group_send_all(messages: list[tuple[str, dict]]) -> None:
    """Send every (group, event) of `messages` at once; never raises for an unavailable Redis."""
    layer = get_channel_layer()
    for attempt in (1, 2):
        try:
            await asyncio.gather(*(layer.group_send(group, event) for group, event in messages))
            return
        except REDIS_DOWN as error:
            if attempt == 2:
                _dropped([group for group, _ in messages], error)


def group_send_many_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Send every (group, event) of `messages` once the surrounding transaction commits (at
    once outside one), all in one trip: a browser must never see a change that was rolled
    back. They go out on the calling thread's own event loop (`run_sync`), so the channel layer
    keeps its Redis connections for the thread instead of opening one in a fresh loop and
    thread per event (what `async_to_sync` does outside a loop; ~13 ms of a trade's time)."""

    def send() -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_sync(group_send_all(messages))
        else:  # called from async code (a consumer, a test): its own loop cannot be re-entered
            async_to_sync(group_send_all)(messages)

    if messages:
        transaction.on_commit(send)


def group_send_on_commit(group: str, event: dict) -> None:
    """`group_send_many_on_commit` for one event."""
    group_send_many_on_commit([(group, event)])


def notice_publish(*, text: str, level: str = "info", user_id: int | None = None) -> None:
    group = NOTICES_GROUP if user_id is None else user_group(user_id)
    group_send_on_commit(group, {"type": "notice", "level": level, "text": text})
