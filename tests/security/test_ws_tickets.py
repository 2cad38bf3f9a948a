"""WebSocket tickets: an API client opens a campaign's socket with a short-lived, single-use
ticket bound to its user and that campaign, instead of a lasting token in the URL."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from tests.conftest import bearer
from tests.support.campaigns import Setup, make_campaign
from volumebot.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
async def _close_consumer_connections():
    yield
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def active(alice):
    return make_campaign(Setup(alice), status="active")


def ticket_for(user, campaign_id: int):
    api = APIClient()
    api.credentials(**bearer(user))
    return api.post(f"/v1/campaigns/{campaign_id}/ws-ticket")


async def opens(path: str) -> tuple[bool, int | None]:
    socket = WebsocketCommunicator(application, path, [ORIGIN])
    connected, code = await socket.connect(timeout=5)
    if connected:
        assert (await socket.receive_json_from(timeout=5))["type"] == "state"
        await socket.disconnect()
    return connected, code


async def test_a_ticket_opens_its_campaigns_socket_once(alice, active):
    response = await sync_to_async(ticket_for)(alice, active.pk)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 30 and len(body["ticket"]) >= 40
    path = f"/ws/campaigns/{active.pk}/?ticket={body['ticket']}"

    assert await opens(path) == (True, None)
    assert await opens(path) == (False, 4403)  # spent


async def test_a_ticket_is_bound_to_its_campaign(alice, active):
    other = await sync_to_async(make_campaign)(await sync_to_async(Setup)(alice), status="active")
    ticket = (await sync_to_async(ticket_for)(alice, active.pk)).json()["ticket"]

    assert await opens(f"/ws/campaigns/{other.pk}/?ticket={ticket}") == (False, 4403)
    # A wrong use spends it too: no second guess with the same ticket.
    assert await opens(f"/ws/campaigns/{active.pk}/?ticket={ticket}") == (False, 4403)


async def test_another_user_gets_no_ticket_and_a_forged_one_fails(bob, active):
    response = await sync_to_async(ticket_for)(bob, active.pk)

    assert response.status_code == 404
    assert await opens(f"/ws/campaigns/{active.pk}/?ticket=forged") == (False, 4403)


async def test_a_ticket_lives_in_redis_for_its_ttl_only(alice, active):
    ticket = (await sync_to_async(ticket_for)(alice, active.pk)).json()["ticket"]
    redis = cache._cache.get_client(None, write=True)
    (key,) = await sync_to_async(lambda: list(redis.scan_iter(f"{cache.key_prefix}:*wsticket:*")))()

    assert 0 < await sync_to_async(redis.ttl)(key) <= 30
    assert ticket.encode() not in key  # stored under its hash
    await sync_to_async(redis.delete)(key)  # what Redis does when the TTL runs out

    assert await opens(f"/ws/campaigns/{active.pk}/?ticket={ticket}") == (False, 4403)
