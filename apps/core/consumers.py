from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from apps.core import metrics
from apps.core.realtime import NOTICES_GROUP, user_group

# Close code for "policy violation" (RFC 6455): the client is not allowed to subscribe.
CLOSE_POLICY = 4403
# RFC 6455 "message too big".
CLOSE_TOO_BIG = 1009
# "Try again later" (IANA registry): the client fell too far behind; it reconnects afresh.
CLOSE_TRY_AGAIN = 1013


class ListenOnlyConsumer(AsyncJsonWebsocketConsumer):
    """A socket the server pushes to; the client has nothing to say. What it sends anyway is
    dropped unparsed, and a message over WEBSOCKET_MAX_MESSAGE_BYTES closes the socket, so a
    client cannot make the server decode megabytes of JSON per frame."""

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WEBSOCKET_MAX_MESSAGE_BYTES:
            await self.close(code=CLOSE_TOO_BIG)


class NoticesConsumer(ListenOnlyConsumer):
    """System notices (e.g. pause-all) and per-user notices, pushed to every open page."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_POLICY)
            return
        self.groups_joined = [NOTICES_GROUP, user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        metrics.WEBSOCKET_CONNECTIONS.labels(consumer="notices").inc()

    async def disconnect(self, code):
        if hasattr(self, "groups_joined"):
            metrics.WEBSOCKET_CONNECTIONS.labels(consumer="notices").dec()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def notice(self, event):
        await self.send_json({"type": "notice", "level": event["level"], "text": event["text"]})
