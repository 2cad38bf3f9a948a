"""The SSRF guard, with the development override off (the default)."""

import socket

import pytest

from apps.core.models import AuditEvent
from apps.webhooks import ssrf
from apps.webhooks.models import Webhook

pytestmark = pytest.mark.django_db

EVENTS = ["campaign.started"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "a loopback address"),
        ("http://10.0.0.1/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://localhost:8000/hook", "a loopback address"),
        ("http://[::1]/hook", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
        ("http://100.64.0.1/hook", "a non-public address"),
        ("http://224.0.0.1/hook", "a multicast address"),
        ("http://0.0.0.0/hook", "an unspecified address"),
    ],
)
def test_it_refuses_private_urls_at_registration(alice_api, settings, url, reason):
    assert settings.WEBHOOKS_ALLOW_PRIVATE is False

    response = alice_api.post("/v1/webhooks", {"url": url, "events": EVENTS}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsafe_url"
    assert reason in error["message"] and "webhooks must be public" in error["message"]
    assert error["fields"]["url"] == [error["message"]]
    assert not Webhook.objects.exists()
    assert not AuditEvent.objects.filter(action="webhook.create").exists()


def test_it_refuses_a_name_resolving_to_a_private_address(alice_api, monkeypatch):
    # The resolver is stubbed: no public DNS name is guaranteed to resolve to 10/8 here.
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "intranet.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)

    response = alice_api.post(
        "/v1/webhooks", {"url": "http://intranet.example.com/x", "events": EVENTS}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "The host intranet.example.com resolves to 10.1.2.3, a private address: "
        "webhooks must be public."
    )
    assert not Webhook.objects.exists()


def test_it_refuses_non_http_schemes(alice_api):
    response = alice_api.post(
        "/v1/webhooks", {"url": "ftp://example.com/x", "events": EVENTS}, format="json"
    )
    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_it_checks_again_at_delivery_time(alice, monkeypatch, settings):
    """DNS rebinding: public at registration, private when delivering → refused, not retried."""
    from apps.core.events import EVENT_TYPES  # noqa: F401
    from apps.webhooks import services
    from apps.webhooks.models import WebhookDelivery

    answers = {"hook.example.com": "93.184.216.34"}

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    webhook, _ = services.webhook_create(
        owner=alice, url="http://hook.example.com/x", events=EVENTS
    )
    answers["hook.example.com"] = "127.0.0.1"
    from django.utils import timezone

    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event_type="campaign.started", event_at=timezone.now(), data={}
    )

    status = services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (status, delivery.attempts, delivery.status) == ("failed", 1, "failed")
    assert "127.0.0.1, a loopback address" in delivery.last_error
    assert delivery.log.get().status_code is None


def test_a_name_that_stops_resolving_is_retried_not_dropped(alice, monkeypatch):
    from django.utils import timezone

    from apps.webhooks import services
    from apps.webhooks.models import WebhookDelivery

    resolvable = {"hook.example.com": True}

    def fake(host, port, *args, **kwargs):
        if not resolvable[host]:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    webhook, _ = services.webhook_create(
        owner=alice, url="http://hook.example.com/x", events=EVENTS
    )
    resolvable["hook.example.com"] = False
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event_type="campaign.started", event_at=timezone.now(), data={}
    )

    status = services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (status, delivery.status, delivery.attempts) == ("pending", "pending", 1)
    assert delivery.last_error == "The host hook.example.com does not resolve."
    assert delivery.log.get().next_retry_at is not None
