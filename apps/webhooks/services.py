"""Writes: register, change, rotate and delete webhooks; fan an event out into deliveries; one
delivery attempt with its retry policy; the test ping; notification preferences."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.events import EVENT_TYPES
from apps.core.realtime import notice_publish
from apps.core.services import audit_log
from apps.wallets import keystore
from apps.webhooks import selectors, sender, signing
from apps.webhooks.models import NotificationPreferences, Webhook, WebhookAttempt, WebhookDelivery
from apps.webhooks.ssrf import check_url

Status = WebhookDelivery.Status
# How late a pending delivery's task may be before the redrive sends it again.
REDRIVE_GRACE_S = 120


def _purpose(webhook_id: int) -> str:
    return f"webhook-secret:{webhook_id}"


def _events_clean(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            "Unknown event types: " + ", ".join(unknown) + ".", fields={"events": unknown}
        )
    if not events:
        raise ValidationFailed("Choose at least one event.", fields={"events": ["Required."]})
    return sorted(set(events))


def _secret_set(webhook: Webhook) -> str:
    secret = signing.secret_generate()
    webhook.encrypted_secret = keystore.encrypt_owner_secret(
        owner=webhook.owner, purpose=_purpose(webhook.pk), plaintext=secret.encode()
    )
    webhook.secret_hint = secret[-4:]
    webhook.save(update_fields=["encrypted_secret", "secret_hint", "updated_at"])
    return secret


def webhook_secret(*, webhook: Webhook) -> str:
    return keystore.decrypt_owner_secret(
        owner_id=webhook.owner_id, purpose=_purpose(webhook.pk), ciphertext=webhook.encrypted_secret
    ).decode()


def webhook_create(
    *, owner, url: str, events: list[str], description: str = "", ip: str | None = None
) -> tuple[Webhook, str]:
    """Register a webhook; returns it with its secret, which is shown this once."""
    check_url(url)
    events = _events_clean(events)
    with transaction.atomic():
        webhook = Webhook.objects.create(
            owner=owner, url=url, events=events, description=description, encrypted_secret=b""
        )
        secret = _secret_set(webhook)
        audit_log(
            actor=owner, action="webhook.create", entity="webhook", entity_id=webhook.pk,
            metadata={"url": url, "events": events}, ip=ip,
        )  # fmt: skip
    return webhook, secret


def webhook_update(
    *, owner, webhook_id: int, url: str | None = None, events: list[str] | None = None,
    description: str | None = None, active: bool | None = None, ip: str | None = None,
) -> Webhook:  # fmt: skip
    if url is not None:
        check_url(url)
    if events is not None:
        events = _events_clean(events)
    with transaction.atomic():
        webhook = selectors.webhook_get(owner=owner, webhook_id=webhook_id)
        webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        changes = {}
        for name, value in (("url", url), ("events", events), ("description", description)):
            if value is not None:
                setattr(webhook, name, value)
                changes[name] = value
        if active is not None and active != webhook.active:
            webhook.active = active
            changes["active"] = active
            if active:  # re-enabled by its owner: start counting failures afresh
                webhook.consecutive_failures = 0
                webhook.disabled_reason = ""
        webhook.save()
        audit_log(
            actor=owner, action="webhook.update", entity="webhook", entity_id=webhook.pk,
            metadata=changes, ip=ip,
        )  # fmt: skip
    return webhook


def webhook_rotate_secret(*, owner, webhook_id: int, ip: str | None = None) -> tuple[Webhook, str]:
    with transaction.atomic():
        webhook = selectors.webhook_get(owner=owner, webhook_id=webhook_id)
        webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        secret = _secret_set(webhook)
        audit_log(
            actor=owner, action="webhook.rotate_secret", entity="webhook", entity_id=webhook.pk,
            ip=ip,
        )  # fmt: skip
    return webhook, secret


def webhook_delete(*, owner, webhook_id: int, ip: str | None = None) -> None:
    with transaction.atomic():
        webhook = selectors.webhook_get(owner=owner, webhook_id=webhook_id)
        audit_log(
            actor=owner, action="webhook.delete", entity="webhook", entity_id=webhook.pk,
            metadata={"url": webhook.url}, ip=ip,
        )  # fmt: skip
        webhook.delete()


@dataclass(frozen=True)
class PingResult:
    ok: bool
    status_code: int | None
    latency_ms: int | None
    error: str
    event_id: str


def webhook_test(*, owner, webhook_id: int) -> PingResult:
    """Send a signed `ping` now and report what the receiver answered (nothing is retried)."""

    webhook = selectors.webhook_get(owner=owner, webhook_id=webhook_id)
    event_id = str(uuid.uuid4())
    body = sender.body_bytes(
        event_id=event_id, event_type="ping", created_at=timezone.now().isoformat(),
        data={"webhook_id": webhook.pk},
    )  # fmt: skip
    outcome = sender.post(
        url=webhook.url, secret=webhook_secret(webhook=webhook), event_id=event_id,
        event_type="ping", body=body,
    )  # fmt: skip
    return PingResult(
        ok=outcome.ok, status_code=outcome.status_code, latency_ms=outcome.latency_ms,
        error=outcome.error, event_id=event_id,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Deliveries


def _enqueue(delivery_id: int, countdown: float = 0) -> None:
    from apps.webhooks.tasks import deliver

    # On commit: the worker must find the row (and its new state) it is sent for.
    transaction.on_commit(
        lambda: deliver.apply_async((delivery_id,), queue="webhook", countdown=countdown or None)
    )


def deliveries_for_event(*, event_type: str, user_id: int, data: dict, at: datetime) -> list[int]:
    """One delivery per active webhook of the user subscribed to `event_type`, all with the same
    event id, each sent by its own task."""
    webhook_ids = selectors.subscribed_webhook_ids(user_id=user_id, event_type=event_type)
    if not webhook_ids:
        return []

    event_id = uuid.uuid4()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                webhook_id=webhook_id,
                event_id=event_id,
                event_type=event_type,
                event_at=at,
                data=data,
                next_attempt_at=timezone.now(),
            )
            for webhook_id in webhook_ids
        )
        for delivery in deliveries:
            _enqueue(delivery.pk)
    return [delivery.pk for delivery in deliveries]


def backoff_seconds(attempt: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (half fixed, half random), capped; a receiver's
    Retry-After wins when it asks for longer."""
    base = settings.WEBHOOKS_BACKOFF_BASE_SECONDS
    cap = settings.WEBHOOKS_BACKOFF_MAX_SECONDS
    delay = min(cap, base * 2 ** (attempt - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, min(cap, retry_after))
    return delay


def delivery_attempt(*, delivery_id: int) -> str:
    """Make the next attempt of a pending delivery; returns its status afterwards."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Status.PENDING:
        return "gone" if delivery is None else delivery.status
    webhook = delivery.webhook
    number = delivery.attempts + 1
    # Compare-and-swap claim: a duplicate task (at-least-once broker) finds attempts moved on
    # and leaves; no row lock is held across the outbound call.
    # While in flight, next_attempt_at says when the attempt is overdue (the worker died):
    # deliveries_redrive sends it again after that.
    overdue = timezone.now() + timedelta(
        seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + REDRIVE_GRACE_S
    )
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.PENDING, attempts=delivery.attempts
    ).update(attempts=number, next_attempt_at=overdue)
    if not claimed:
        return "claimed"
    if not webhook.active:
        disabled = sender.Outcome(ok=False, retryable=False, error="The webhook is disabled.")
        _attempt_finish(delivery, number, disabled)
        return Status.FAILED
    body = sender.body_bytes(
        event_id=str(delivery.event_id), event_type=delivery.event_type,
        created_at=delivery.event_at.isoformat(), data=delivery.data,
    )  # fmt: skip
    outcome = sender.post(
        url=webhook.url, secret=webhook_secret(webhook=webhook), event_id=str(delivery.event_id),
        event_type=delivery.event_type, body=body,
    )  # fmt: skip
    return _attempt_finish(delivery, number, outcome)


def _attempt_finish(delivery: WebhookDelivery, number: int, outcome: sender.Outcome) -> str:
    now = timezone.now()
    retry = outcome.retryable and number < settings.WEBHOOKS_MAX_ATTEMPTS
    delay = backoff_seconds(number, retry_after=outcome.retry_after_s) if retry else 0.0
    next_at = now + timedelta(seconds=delay) if retry else None
    status = Status.SUCCEEDED if outcome.ok else (Status.PENDING if retry else Status.FAILED)
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery, number=number, status_code=outcome.status_code,
            latency_ms=outcome.latency_ms, error=outcome.error[:500], next_retry_at=next_at,
        )  # fmt: skip
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status, next_attempt_at=next_at, last_status_code=outcome.status_code,
            last_error=outcome.error[:500], completed_at=None if retry else now,
        )  # fmt: skip
        if retry:
            _enqueue(delivery.pk, countdown=delay)
        elif outcome.ok:
            Webhook.objects.filter(pk=delivery.webhook_id).update(consecutive_failures=0)
        else:
            _webhook_failed(delivery.webhook_id)
    return status


def _webhook_failed(webhook_id: int) -> None:
    Webhook.objects.filter(pk=webhook_id).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
    reason = f"Disabled after {limit} deliveries in a row failed."
    # Compare-and-swap: only the attempt that flips it tells the owner.
    disabled = Webhook.objects.filter(
        pk=webhook_id, active=True, consecutive_failures__gte=limit
    ).update(active=False, disabled_reason=reason)
    if disabled:
        webhook = Webhook.objects.get(pk=webhook_id)
        notice_publish(
            text=f"Your webhook {webhook.url} was disabled: {limit} deliveries in a row failed.",
            level="warning", user_id=webhook.owner_id,
        )  # fmt: skip


def deliveries_redrive(*, now: datetime) -> list[int]:
    """Re-enqueue pending deliveries whose task is long overdue (lost by the broker, or its
    worker died mid-attempt). A duplicate task is harmless: the attempt claim lets one through."""
    due = now - timedelta(seconds=REDRIVE_GRACE_S)
    ids = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lt=due)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    with transaction.atomic():
        for delivery_id in ids:
            _enqueue(delivery_id)
    return ids


def delivery_resend(*, owner, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again as a new delivery with the same event id and body."""
    original = selectors.delivery_get(owner=owner, delivery_id=delivery_id)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            webhook=original.webhook, event_id=original.event_id, event_type=original.event_type,
            event_at=original.event_at, data=original.data, next_attempt_at=timezone.now(),
        )  # fmt: skip
        _enqueue(delivery.pk)
    return delivery


# ---------------------------------------------------------------------------------------------
# E-mail preferences


PREFERENCE_FIELDS = (
    "campaign_started", "campaign_completed", "campaign_failed", "campaign_auto_paused",
    "low_balance", "daily_summary",
)  # fmt: skip


def preferences_update(*, user, **changes: bool) -> NotificationPreferences:
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown preferences: " + ", ".join(sorted(unknown)) + ".")
    prefs, _ = NotificationPreferences.objects.update_or_create(user=user, defaults=changes)
    return prefs
