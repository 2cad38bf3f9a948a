"""Signed deliveries to a real local receiver through a real worker: signature recipe, retries
with backoff, no retry on 4xx, stable event id, disabling after continuous failures."""

import hashlib
import hmac
from pathlib import Path

import pytest
from django.conf import settings

from apps.core import events
from apps.webhooks import services
from apps.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.factories import WebhookDeliveryFactory
from tests.support.engine import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def register(user, url, event_types=("campaign.started",)):
    return services.webhook_create(owner=user, url=url, events=list(event_types))


def emit_started(user, campaign_id=7):
    events.emit(
        event_type="campaign.started", user_id=user.pk,
        data={"campaign_id": campaign_id, "name": "Alpha", "status": "active", "by": "owner"},
    )  # fmt: skip


def documented_verify():
    """The `verify` function of the README's webhook section, exactly as documented."""
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    section = readme[readme.index("## Webhooks and e-mail notifications") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n\n")]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own README
    return namespace["verify"]


def settled(webhook):
    deliveries = list(WebhookDelivery.objects.filter(webhook=webhook))
    return deliveries and all(d.status != "pending" for d in deliveries)


def test_it_signs_the_body_with_the_documented_recipe(alice, receiver, webhook_worker):
    webhook, secret = register(alice, receiver.url)

    emit_started(alice)

    wait_for(lambda: settled(webhook), timeout=20, what="the delivery")
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    # The recipe of the docs page, verbatim.
    signed = f"{headers['X-Volumebot-Timestamp']}.{body.decode()}".encode()
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Volumebot-Signature"], expected)
    verify = documented_verify()
    assert verify(secret, headers, body) is True
    assert verify(secret, headers, body + b" ") is False
    assert verify("whsec_other", headers, body) is False
    payload = receiver.events()[0]
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["type"] == "campaign.started"
    assert payload["data"]["campaign_id"] == 7
    assert headers["X-Volumebot-Event-Id"] == payload["id"]
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.status, delivery.attempts, str(delivery.event_id)) == (
        "succeeded", 1, payload["id"],
    )  # fmt: skip


def test_it_retries_with_backoff_until_the_receiver_succeeds(alice, receiver, webhook_worker):
    receiver.script = [500, 503]
    webhook, _ = register(alice, receiver.url)

    emit_started(alice)

    wait_for(lambda: settled(webhook), timeout=30, what="the delivery")
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 503), (3, 200)]
    assert [a.next_retry_at is not None for a in log] == [True, True, False]
    assert all(a.latency_ms is not None for a in log)
    # Backoff: base 0.2 s with jitter in [half, full]: the 2nd waits >= 0.1 s, the 3rd >= 0.2 s.
    assert (log[1].created_at - log[0].created_at).total_seconds() >= 0.1
    assert (log[2].created_at - log[1].created_at).total_seconds() >= 0.2
    # Exactly one success at the receiver, and one event id across the three attempts.
    ids = {event["id"] for event in receiver.events()}
    assert len(receiver.requests) == 3
    assert ids == {str(delivery.event_id)}
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0


def test_it_does_not_retry_a_4xx(alice, receiver, webhook_worker):
    receiver.script = [400]
    webhook, _ = register(alice, receiver.url)

    emit_started(alice)

    wait_for(lambda: settled(webhook), timeout=20, what="the delivery")
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, 400)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 1
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 1


def test_it_retries_a_429_after_its_retry_after(alice, receiver, webhook_worker):
    receiver.script = [429]
    receiver.headers_to_send = {"Retry-After": "1"}
    webhook, _ = register(alice, receiver.url)

    emit_started(alice)

    wait_for(lambda: settled(webhook), timeout=20, what="the delivery")
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    log = list(delivery.log.order_by("number"))
    assert [a.status_code for a in log] == [429, 200]
    assert (log[1].created_at - log[0].created_at).total_seconds() >= 1.0


def test_it_only_delivers_subscribed_events_of_the_owner(alice, bob, receiver, webhook_worker):
    webhook, _ = register(alice, receiver.url, ("trade.landed",))

    emit_started(alice)  # not subscribed
    events.emit(event_type="trade.landed", user_id=bob.pk, data={"signature": "x"})  # bob's

    assert not WebhookDelivery.objects.filter(webhook=webhook).exists()
    assert receiver.requests == []
    events.emit(event_type="trade.landed", user_id=alice.pk, data={"signature": "y"})
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    events.emit(event_type="trade.landed", user_id=alice.pk, data={"signature": "z"})  # inactive
    deliveries = WebhookDelivery.objects.filter(webhook=webhook)
    assert [delivery.data["signature"] for delivery in deliveries] == ["y"]


def test_it_disables_a_webhook_failing_continuously(alice, receiver, webhook_worker, settings):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.core.realtime import user_group

    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    receiver.script = [410, 410]
    webhook, _ = register(alice, receiver.url)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(alice.pk), channel)

    emit_started(alice, 1)
    wait_for(lambda: settled(webhook), timeout=20, what="the first delivery")
    emit_started(alice, 2)
    wait_for(lambda: not Webhook.objects.get(pk=webhook.pk).active, timeout=20, what="disabling")

    webhook.refresh_from_db()
    assert (webhook.active, webhook.consecutive_failures) == (False, 2)
    assert "2 deliveries in a row failed" in webhook.disabled_reason
    emit_started(alice, 3)  # disabled: no new delivery
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 2
    notice = async_to_sync(layer.receive)(channel)
    assert notice == {
        "type": "notice", "level": "warning",
        "text": f"Your webhook {receiver.url} was disabled: 2 deliveries in a row failed.",
    }  # fmt: skip


def test_it_resends_a_delivery_with_the_same_event_id(alice, receiver, webhook_worker):
    receiver.script = [404]
    webhook, _ = register(alice, receiver.url)
    emit_started(alice)
    wait_for(lambda: settled(webhook), timeout=20, what="the delivery")
    failed = WebhookDelivery.objects.get(webhook=webhook)

    again = services.delivery_resend(owner=alice, delivery_id=failed.pk)

    wait_for(lambda: settled(webhook), timeout=20, what="the re-send")
    again.refresh_from_db()
    assert (failed.status, again.status, again.event_id) == ("failed", "succeeded", failed.event_id)
    assert [e["id"] for e in receiver.events()] == [str(failed.event_id)] * 2


def test_it_redrives_a_delivery_whose_task_was_lost(alice, receiver, webhook_worker):
    from datetime import timedelta

    from django.utils import timezone

    webhook, _ = register(alice, receiver.url)
    lost = WebhookDeliveryFactory(
        webhook=webhook, data={"campaign_id": 1},
        next_attempt_at=timezone.now() - timedelta(minutes=10),
    )  # fmt: skip
    recent = WebhookDeliveryFactory(
        webhook=webhook, data={"campaign_id": 2},
        next_attempt_at=timezone.now() + timedelta(minutes=10),
    )  # fmt: skip

    redriven = services.deliveries_redrive(now=timezone.now())

    assert redriven == [lost.pk]
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=lost.pk).status == "succeeded",
        timeout=20, what="the redriven delivery",
    )  # fmt: skip
    assert WebhookDelivery.objects.get(pk=recent.pk).status == "pending"
    assert [e["data"]["campaign_id"] for e in receiver.events()] == [1]
