"""Rate limits (apps.core.throttling): for every scope the N+1th request in a window is refused
with 429 and Retry-After, and the limit resets when the window has passed. The clock is the
throttles' own timer, moved forward by the test (no sleeping)."""

import json

import pytest
from django.test import Client
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.admin_ops.models import Alert
from apps.admin_ops.selectors import flagged_users
from apps.core import throttling
from apps.wallets.models import Wallet
from tests.factories import WalletFactory
from tests.support.campaigns import Setup, make_campaign

pytestmark = pytest.mark.django_db

LIMIT = 2
NOW = 1_000_000.0


@pytest.fixture
def clock(monkeypatch):
    """The throttles' time, in seconds; advance with `clock.now += seconds`."""

    class Clock:
        now = NOW

    monkeypatch.setattr(throttling._RateThrottle, "timer", staticmethod(lambda: Clock.now))
    return Clock


@pytest.fixture
def limits(settings):
    """Every scope at LIMIT per minute (the test settings are generous so nothing else trips)."""

    def set_limits(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_limits


def assert_throttled_json(response):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["fields"] == {}
    assert "Expected available in" in body["error"]["message"]


def assert_throttled_page(response):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert b"Too many requests" in response.content


def exhaust(send, expected_status: int, assert_throttled, clock):
    """LIMIT requests pass, the next is refused; a minute later the limit has reset."""
    for _ in range(LIMIT):
        assert send().status_code == expected_status
    assert_throttled(send())
    clock.now += 61
    assert send().status_code == expected_status


# --- API ---------------------------------------------------------------------------------------


def test_it_limits_token_obtain_per_ip(api_client, alice, clock, limits):
    limits(token=f"{LIMIT}/min")
    send = lambda: api_client.post(  # noqa: E731
        "/v1/auth/token", {"email": alice.email, "password": "wrong-password"}, format="json"
    )
    exhaust(send, 401, assert_throttled_json, clock)


def test_it_limits_wallet_import_and_generate_per_user(alice_api, alice, clock, limits):
    limits(wallet_create=f"{LIMIT}/min")
    send = lambda: alice_api.post("/v1/wallets", {"mode": "generate"}, format="json")  # noqa: E731
    exhaust(send, 201, assert_throttled_json, clock)
    assert Wallet.objects.filter(owner=alice).count() == LIMIT + 1


def test_it_does_not_count_previews_and_watch_only_wallets(alice_api, alice, clock, limits):
    limits(wallet_create="1/min")
    assert alice_api.post("/v1/wallets", {"mode": "generate"}, format="json").status_code == 201
    other = WalletFactory()
    watch = {"mode": "watch", "address": other.address}
    assert alice_api.post("/v1/wallets", watch, format="json").status_code == 201
    refused = alice_api.post("/v1/wallets", {"mode": "generate"}, format="json")
    assert_throttled_json(refused)
    assert Wallet.objects.filter(owner=alice).count() == 2


def test_it_limits_wallet_export_per_user(alice_api, alice, clock, limits):
    limits(wallet_export=f"{LIMIT}/min")
    wallet = WalletFactory(owner=alice)
    url = f"/v1/wallets/{wallet.pk}/export"
    send = lambda: alice_api.post(url, {"password": "wrong-password"}, format="json")  # noqa: E731
    exhaust(send, 400, assert_throttled_json, clock)


def test_it_limits_campaign_start_per_user(alice_api, alice, clock, limits):
    limits(campaign_start=f"{LIMIT}/min")
    campaign = make_campaign(Setup(alice), status="active")
    send = lambda: alice_api.post(f"/v1/campaigns/{campaign.pk}/start")  # noqa: E731
    exhaust(send, 200, assert_throttled_json, clock)


def test_it_limits_webhook_tests_per_user(alice, clock, limits):
    limits(webhook_test=f"{LIMIT}/min")

    class WebhookTestView(APIView):  # stands in for the webhooks app's view
        throttle_scope = "webhook_test"

        def post(self, request):
            return Response({"sent": True})

    view = WebhookTestView.as_view()
    factory = APIRequestFactory()

    def send():
        request = factory.post("/v1/webhooks/1/test", {}, format="json")
        force_authenticate(request, user=alice)
        response = view(request)
        response.render()
        return response

    for _ in range(LIMIT):
        assert send().status_code == 200
    refused = send()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert json.loads(refused.content)["error"]["code"] == "throttled"
    clock.now += 61
    assert send().status_code == 200


def test_it_limits_every_api_request_per_user(alice_api, clock, limits):
    limits(user=f"{LIMIT}/min")
    exhaust(lambda: alice_api.get("/v1/me"), 200, assert_throttled_json, clock)


def test_it_limits_every_api_request_per_ip_when_signed_out(api_client, clock, limits):
    # DRF checks permissions first: a protected endpoint answers 401 before any throttle, so
    # the per-IP limit guards the open ones (token obtain, schema).
    limits(anon=f"{LIMIT}/min")
    data = {"email": "nobody@example.com", "password": "wrong-password"}
    send = lambda: api_client.post("/v1/auth/token", data, format="json")  # noqa: E731
    exhaust(send, 401, assert_throttled_json, clock)


def test_it_ignores_a_client_sent_forwarded_for(api_client, clock, limits):
    limits(anon=f"{LIMIT}/min")
    data = {"email": "nobody@example.com", "password": "wrong-password"}
    for n in range(LIMIT):
        api_client.post("/v1/auth/token", data, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
    refused = api_client.post("/v1/auth/token", data, HTTP_X_FORWARDED_FOR="10.0.0.99")
    assert_throttled_json(refused)


def test_it_keeps_users_apart(alice_api, bob_api, clock, limits):
    limits(user=f"{LIMIT}/min")
    for _ in range(LIMIT + 1):
        alice_api.get("/v1/me")
    assert bob_api.get("/v1/me").status_code == 200


# --- HTML --------------------------------------------------------------------------------------


def test_it_limits_sign_in_per_ip(client, alice, clock, limits):
    limits(signin=f"{LIMIT}/min")
    data = {"username": alice.email, "password": "wrong-password"}
    exhaust(lambda: client.post("/accounts/signin/", data), 200, assert_throttled_page, clock)


def test_it_limits_sign_up_per_ip(client, clock, limits):
    limits(signup=f"{LIMIT}/min")
    exhaust(lambda: client.post("/accounts/signup/", {}), 200, assert_throttled_page, clock)


def test_it_limits_password_reset_per_ip(client, alice, clock, limits):
    limits(password_reset=f"{LIMIT}/min")
    send = lambda: client.post("/accounts/password-reset/", {"email": alice.email})  # noqa: E731
    exhaust(send, 302, assert_throttled_page, clock)


def test_it_limits_wallet_generation_on_the_page(client, alice, clock, limits):
    limits(wallet_create=f"{LIMIT}/min")
    client.force_login(alice)
    send = lambda: client.post("/wallets/add/?tab=generate", {"label": ""})  # noqa: E731
    exhaust(send, 302, assert_throttled_page, clock)
    assert Wallet.objects.filter(owner=alice).count() == LIMIT + 1


def test_it_limits_key_export_on_the_page(client, alice, clock, limits):
    limits(wallet_export=f"{LIMIT}/min")
    client.force_login(alice)
    wallet = WalletFactory(owner=alice)
    url = f"/wallets/{wallet.pk}/export/"
    send = lambda: client.post(url, {"password": "wrong-password"})  # noqa: E731
    exhaust(send, 400, assert_throttled_page, clock)


def test_it_limits_campaign_start_on_the_page(client, alice, clock, limits):
    limits(campaign_start=f"{LIMIT}/min")
    client.force_login(alice)
    campaign = make_campaign(Setup(alice), status="active")
    send = lambda: client.post(f"/campaigns/{campaign.pk}/start/")  # noqa: E731
    exhaust(send, 302, assert_throttled_page, clock)


def test_it_answers_htmx_with_a_toast(client, alice, clock, limits):
    limits(campaign_start="1/min")
    client.force_login(alice)
    campaign = make_campaign(Setup(alice), status="active")
    url = f"/campaigns/{campaign.pk}/start/"
    client.post(url, HTTP_HX_REQUEST="true")
    refused = client.post(url, HTTP_HX_REQUEST="true")
    assert refused.status_code == 429
    assert refused["HX-Reswap"] == "none"
    (toast,) = json.loads(refused["HX-Trigger"])["messages"]
    assert toast["level"] == "error"
    assert toast["text"].startswith("Too many campaign starts. Try again in")


def test_it_shares_counters_between_the_api_and_the_pages(alice, alice_api, clock, limits):
    limits(wallet_create=f"{LIMIT}/min")
    page = Client()
    page.force_login(alice)
    assert alice_api.post("/v1/wallets", {"mode": "generate"}, format="json").status_code == 201
    assert page.post("/wallets/add/?tab=generate", {"label": ""}).status_code == 302
    assert_throttled_json(alice_api.post("/v1/wallets", {"mode": "generate"}, format="json"))
    assert_throttled_page(page.post("/wallets/add/?tab=generate", {"label": ""}))


# --- Abuse signals -----------------------------------------------------------------------------


def test_it_raises_one_alert_per_window_and_flags_repeat_offenders(
    alice, alice_api, clock, limits, settings
):
    settings.OPS_ABUSE_THRESHOLD = 3
    limits(user="1/min")
    for _ in range(5):
        alice_api.get("/v1/me")
    (alert,) = Alert.objects.filter(user=alice, kind=Alert.Kind.RATE_LIMIT)
    assert alert.count == 1
    assert alert.message == "Too many requests (limit user)."
    assert flagged_users() == []

    # Two more windows with hits: the same alert is bumped, and alice is flagged.
    for _ in range(2):
        throttling.cache.delete(f"throttle:alerted:user:{alice.pk}")
        clock.now += 61
        alice_api.get("/v1/me")
        alice_api.get("/v1/me")
    alert.refresh_from_db()
    assert alert.count == 3
    (flagged,) = flagged_users()
    assert (flagged["user_id"], flagged["rate_limits"]) == (alice.pk, 3)


def test_it_raises_no_alert_for_anonymous_hits(api_client, clock, limits):
    limits(anon="1/min")
    for _ in range(3):
        api_client.post("/v1/auth/token", {"email": "a@example.com", "password": "x"})
    assert not Alert.objects.exists()
