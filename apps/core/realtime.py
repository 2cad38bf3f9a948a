"""Push events to browsers through the channel layer, after the transaction commits."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

NOTICES_GROUP = "notices"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def group_send_on_commit(group: str, event: dict) -> None:
    """Send `event` to `group` once the surrounding transaction commits (at once outside one):
    a browser must never see a change that was rolled back."""

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(group, event)

    transaction.on_commit(send)


def notice_publish(*, text: str, level: str = "info", user_id: int | None = None) -> None:
    group = NOTICES_GROUP if user_id is None else user_group(user_id)
    group_send_on_commit(group, {"type": "notice", "level": level, "text": text})
