"""The SSRF guard, with the development override off (the default)."""

import socket

import pytest

from apps.core.models import AuditEvent
from apps.webhooks import ssrf
from apps.webhooks.models import Webhook
from tests.factories import WebhookDeliveryFactory

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


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[2002:a00:1::]/", "a private address (10.0.0.1 inside a 6to4 address)"),
        ("http://[2002:7f00:1::]/", "a loopback address (127.0.0.1 inside a 6to4 address)"),
        # Teredo stores the client's address inverted: ~10.0.0.1 = f5ff:fffe.
        (
            "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
            "a private address (10.0.0.1 inside a Teredo address)",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "a cloud metadata address (169.254.169.254 inside a NAT64 address)",
        ),
        (
            "http://[::127.0.0.1]/",
            "a loopback address (127.0.0.1 inside an IPv4-compatible address)",
        ),
        (
            "http://[::ffff:0:a00:1]/",
            "a private address (10.0.0.1 inside an IPv4-translated address)",
        ),
        (
            "http://[2a00:1450::5efe:a00:1]/",
            "a private address (10.0.0.1 inside an ISATAP address)",
        ),
        (
            "http://[::ffff:192.168.1.1]/",
            "a private address (192.168.1.1 inside an IPv4-mapped address)",
        ),
    ],
)
def test_it_refuses_private_ipv4_embedded_in_ipv6(alice_api, url, reason):
    response = alice_api.post("/v1/webhooks", {"url": url, "events": EVENTS}, format="json")

    assert response.status_code == 400
    host = url.split("[")[1].split("]")[0]
    message = f"The host {host} resolves to {host}, {reason}: webhooks must be public."
    assert response.json()["error"] == {
        "code": "unsafe_url",
        "message": message,
        "fields": {"url": [message]},
    }
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", ["http://[2002:808:808::1]/hook", "http://[::ffff:8.8.8.8]/hook"])
def test_it_accepts_public_ipv4_embedded_in_ipv6(alice_api, url):
    response = alice_api.post("/v1/webhooks", {"url": url, "events": EVENTS}, format="json")

    assert response.status_code == 201
    assert list(Webhook.objects.values_list("url", flat=True)) == [url]


@pytest.mark.parametrize("url", ["http://example.com:0/hook", "https://8.8.8.8:0/"])
def test_it_refuses_port_zero(alice_api, url):
    response = alice_api.post("/v1/webhooks", {"url": url, "events": EVENTS}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "unsafe_url",
        "message": "The URL's port is invalid.",
        "fields": {"url": ["Invalid port."]},
    }
    assert not Webhook.objects.exists()


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

    answers = {"hook.example.com": "93.184.216.34"}

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)
    webhook, _ = services.webhook_create(
        owner=alice, url="http://hook.example.com/x", events=EVENTS
    )
    answers["hook.example.com"] = "127.0.0.1"
    delivery = WebhookDeliveryFactory(webhook=webhook)

    status = services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (status, delivery.attempts, delivery.status) == ("failed", 1, "failed")
    assert "127.0.0.1, a loopback address" in delivery.last_error
    assert delivery.log.get().status_code is None


def test_a_name_that_stops_resolving_is_retried_not_dropped(alice, monkeypatch):
    from apps.webhooks import services

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
    delivery = WebhookDeliveryFactory(webhook=webhook)

    status = services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (status, delivery.status, delivery.attempts) == ("pending", "pending", 1)
    assert delivery.last_error == "The host hook.example.com does not resolve."
    assert delivery.log.get().next_retry_at is not None
