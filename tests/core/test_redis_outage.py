"""Redis down: the API and pages degrade instead of crashing, and recover after a restart.

Each test runs its own redis-server (`tests.support.redis`) and points the cache, the channel
layer and the broker at it."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.core.signals import request_started
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from solders.keypair import Keypair

from apps.admin_ops.models import Alert
from apps.core.models import AuditEvent
from apps.core.realtime import group_send_all, notice_publish
from apps.wallets.services import wallet_watch
from tests.conftest import bearer

pytestmark = pytest.mark.django_db

OUTAGE = {
    "code": "service_unavailable",
    "message": "This needs a service that is not answering right now; try again shortly.",
    "fields": {},
}


def test_the_api_answers_503_or_keeps_reading_while_redis_is_down(private_redis, alice, password):
    api = APIClient()
    api.credentials(**bearer(alice))
    watched = wallet_watch(owner=alice, address=str(Keypair().pubkey()), label="w")
    assert api.get("/v1/me").status_code == 200

    # Redis dies while a request that needs it is already under way.
    def stop_redis(**kwargs):
        private_redis.stop()

    request_started.connect(stop_redis)
    try:
        challenge = api.post(f"/v1/wallets/{watched.pk}/verify", {})
    finally:
        request_started.disconnect(stop_redis)

    assert challenge.status_code == 503
    assert challenge.json() == {"error": OUTAGE}
    assert challenge["Retry-After"] == "10"
    # Reads that do not need Redis keep working (the per-user rate limit fails open).
    assert api.get("/v1/me").json()["email"] == "alice@example.com"
    assert api.get("/v1/wallets").status_code == 200
    # Sign-in's rate limit fails closed: no guessing passwords while it cannot count.
    token = APIClient().post("/v1/auth/token", {"email": alice.email, "password": password})
    assert (token.status_code, token.json()) == (503, {"error": OUTAGE})
    assert token["Retry-After"] == "10"
    assert not AuditEvent.objects.filter(action="wallet.verify").exists()

    private_redis.start()

    assert api.post(f"/v1/wallets/{watched.pk}/verify", {}).status_code == 200
    assert (
        APIClient().post("/v1/auth/token", {"email": alice.email, "password": password}).status_code
        == 200
    )


def test_pages_keep_their_session_and_answer_503_for_what_needs_redis(private_redis, alice):
    browser = Client()
    browser.force_login(alice)
    watched = wallet_watch(owner=alice, address=str(Keypair().pubkey()), label="w")
    assert browser.get(reverse("dashboard")).status_code == 200

    private_redis.stop()

    # The session is read from Postgres: still signed in.
    assert browser.get(reverse("dashboard")).status_code == 200
    assert browser.get(reverse("wallets:list")).status_code == 200
    page = browser.post(reverse("wallets:verify", args=[watched.pk]))
    assert page.status_code == 503
    assert page["Retry-After"] == "10"
    assert b"Temporarily unavailable" in page.content

    private_redis.start()

    assert browser.post(reverse("wallets:verify", args=[watched.pk])).status_code == 200


def test_a_throttled_request_after_a_redis_restart_is_a_429_not_a_500(
    private_redis, alice, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "user": "1/min"}
    api = APIClient()
    api.credentials(**bearer(alice))
    assert api.get("/v1/me").status_code == 200

    private_redis.stop()
    private_redis.start()  # empty again: the counters start over, on pooled dead connections
    allowed, denied = api.get("/v1/me"), api.get("/v1/me")

    assert allowed.status_code == 200
    assert denied.status_code == 429
    assert "Retry-After" in denied
    assert Alert.objects.filter(kind="rate_limit", user=alice).count() == 1


def test_a_publish_on_a_connection_redis_dropped_reconnects_and_delivers(private_redis):
    async def scenario():
        layer = get_channel_layer()
        await layer.group_send("probe", {"type": "warm"})  # pools a connection in this loop
        private_redis.stop()
        private_redis.start()  # that pooled connection is dead now
        receiver = RedisChannelLayer(
            hosts=settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"], prefix=layer.prefix
        )  # a fresh one, to watch what arrives
        channel = await receiver.new_channel()
        await receiver.group_add("probe", channel)

        await group_send_all([("probe", {"type": "notice", "text": "after restart"})])

        received = await asyncio.wait_for(receiver.receive(channel), timeout=5)
        await receiver.close_pools()
        await layer.close_pools()
        return received

    assert async_to_sync(scenario)() == {"type": "notice", "text": "after restart"}


def test_a_publish_while_redis_is_down_is_dropped_without_failing(private_redis):
    private_redis.stop()

    async_to_sync(group_send_all)([("probe", {"type": "notice", "text": "lost"})])
    notice_publish(text="lost too", user_id=1)  # outside a transaction: sent (tried) at once
