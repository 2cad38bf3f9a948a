"""Push events to browsers through the channel layer, after the transaction commits.

Every group message of the platform goes through `group_send_many_on_commit` (the one send
path): web requests, beat and the engine's workers alike.
"""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.chain.rpc import run_sync

NOTICES_GROUP = "notices"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def campaign_group(campaign_id: int) -> str:
    """The channel group of one campaign: its page's sockets join it; the engine's events and
    the campaign's transitions are sent to it."""
    return f"campaign.{campaign_id}"


def group_send_many_on_commit(messages: list[tuple[str, dict]]) -> None:
    """Send every (group, event) of `messages` once the surrounding transaction commits (at
    once outside one), all in one trip: a browser must never see a change that was rolled
    back. They go out on the calling thread's own event loop (`run_sync`), so the channel layer
    keeps its Redis connections for the thread instead of opening one in a fresh loop and
    thread per event (what `async_to_sync` does outside a loop; ~13 ms of a trade's time)."""

    async def send_all() -> None:
        layer = get_channel_layer()
        await asyncio.gather(*(layer.group_send(group, event) for group, event in messages))

    def send() -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_sync(send_all())
        else:  # called from async code (a consumer, a test): its own loop cannot be re-entered
            async_to_sync(send_all)()

    if messages:
        transaction.on_commit(send)


def group_send_on_commit(group: str, event: dict) -> None:
    """`group_send_many_on_commit` for one event."""
    group_send_many_on_commit([(group, event)])


def notice_publish(*, text: str, level: str = "info", user_id: int | None = None) -> None:
    group = NOTICES_GROUP if user_id is None else user_group(user_id)
    group_send_on_commit(group, {"type": "notice", "level": level, "text": text})
