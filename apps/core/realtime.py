"""Push events to browsers through the channel layer, after the transaction commits.

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

from apps.core.outage import REDIS_DOWN

logger = logging.getLogger(__name__)

NOTICES_GROUP = "notices"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


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


def group_send_on_commit(group: str, event: dict) -> None:
    """Send `event` to `group` once the surrounding transaction commits (at once outside one):
    a browser must never see a change that was rolled back."""

    def send() -> None:
        layer = get_channel_layer()
        for attempt in (1, 2):
            try:
                async_to_sync(layer.group_send)(group, event)
                return
            except REDIS_DOWN as error:
                if attempt == 2:
                    _dropped([group], error)

    transaction.on_commit(send)


def notice_publish(*, text: str, level: str = "info", user_id: int | None = None) -> None:
    group = NOTICES_GROUP if user_id is None else user_group(user_id)
    group_send_on_commit(group, {"type": "notice", "level": level, "text": text})
