"""The webhooks API: owner scope (bob gets 404), the secret shown once, rotation, test ping."""

import hashlib
import hmac

import pytest

from apps.webhooks import services
from apps.webhooks.models import Webhook
from tests.factories import WebhookAttemptFactory, WebhookDeliveryFactory

pytestmark = pytest.mark.django_db

EVENTS = ["campaign.started", "trade.landed"]


@pytest.fixture
def alice_hook(alice, public_dns):
    webhook, _ = services.webhook_create(
        owner=alice, url="https://hook.example.com/a", events=EVENTS
    )
    return webhook


def test_it_registers_a_webhook_and_shows_the_secret_once(alice_api, public_dns):
    response = alice_api.post(
        "/v1/webhooks", {"url": "https://hook.example.com/x", "events": EVENTS}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret_hint"] == body["secret"][-4:]
    assert body["events"] == EVENTS and body["active"] is True
    webhook = Webhook.objects.get(pk=body["id"])
    assert body["secret"].encode() not in bytes(webhook.encrypted_secret)
    assert services.webhook_secret(webhook=webhook) == body["secret"]
    listed = alice_api.get("/v1/webhooks").json()["results"]
    assert [w["id"] for w in listed] == [webhook.pk]
    assert "secret" not in listed[0] and "encrypted_secret" not in listed[0]
    assert "secret" not in alice_api.get(f"/v1/webhooks/{webhook.pk}").json()


def test_it_rejects_unknown_events(alice_api, public_dns):
    response = alice_api.post(
        "/v1/webhooks", {"url": "https://hook.example.com/x", "events": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "events.0" in response.json()["error"]["fields"]
    assert not Webhook.objects.exists()


def test_it_updates_and_deletes(alice_api, alice_hook):
    response = alice_api.patch(
        f"/v1/webhooks/{alice_hook.pk}", {"events": ["run.stats"], "active": False}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["events"], response.json()["active"]) == (["run.stats"], False)

    assert alice_api.delete(f"/v1/webhooks/{alice_hook.pk}").status_code == 204
    assert not Webhook.objects.exists()


def test_it_rotates_the_secret(alice_api, alice_hook):
    old = services.webhook_secret(webhook=alice_hook)

    response = alice_api.post(f"/v1/webhooks/{alice_hook.pk}/rotate-secret")

    assert response.status_code == 200
    new = response.json()["secret"]
    alice_hook.refresh_from_db()
    assert new != old and services.webhook_secret(webhook=alice_hook) == new


def test_bob_cannot_see_change_test_or_delete_alices_webhook(bob_api, alice_hook):
    base = f"/v1/webhooks/{alice_hook.pk}"
    assert bob_api.get("/v1/webhooks").json() == {"results": [], "next_cursor": None}
    for response in (
        bob_api.get(base),
        bob_api.patch(base, {"active": False}, format="json"),
        bob_api.delete(base),
        bob_api.get(f"{base}/deliveries"),
        bob_api.post(f"{base}/rotate-secret"),
        bob_api.post("/v1/webhooks/test", {"webhook_id": alice_hook.pk}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    alice_hook.refresh_from_db()
    assert alice_hook.active is True


def test_anonymous_gets_401(api_client, alice_hook):
    assert api_client.get("/v1/webhooks").status_code == 401
    assert api_client.get(f"/v1/webhooks/{alice_hook.pk}").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_test_endpoint_sends_a_signed_ping(alice, alice_api, receiver):
    webhook, secret = services.webhook_create(owner=alice, url=receiver.url, events=EVENTS)

    response = alice_api.post("/v1/webhooks/test", {"webhook_id": webhook.pk}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["status_code"], body["error"]) == (True, 200, "")
    assert body["latency_ms"] >= 0
    [request] = receiver.requests
    signed = f"{request['headers']['X-Volumebot-Timestamp']}.{request['body'].decode()}".encode()
    assert request["headers"]["X-Volumebot-Signature"] == (
        "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    )
    assert receiver.events()[0]["type"] == "ping"
    assert receiver.events()[0]["id"] == body["event_id"]


def test_the_deliveries_are_listed_with_their_attempts(alice, alice_api, alice_hook):
    delivery = WebhookDeliveryFactory(
        webhook=alice_hook, event_type="trade.landed", status="failed", attempts=1,
        last_status_code=500,
    )  # fmt: skip
    WebhookAttemptFactory(delivery=delivery, latency_ms=12)

    response = alice_api.get(f"/v1/webhooks/{alice_hook.pk}/deliveries")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert response.json()["next_cursor"] is None
    assert row["event_id"] == str(delivery.event_id)
    assert row["attempts_log"][0]["status_code"] == 500
    assert row["attempts_log"][0]["latency_ms"] == 12
