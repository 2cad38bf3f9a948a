"""Reads: a user's webhooks and deliveries (another user's are a 404), preferences."""

from django.shortcuts import get_object_or_404

from apps.webhooks.models import NotificationPreferences, Webhook, WebhookAttempt, WebhookDelivery


def webhook_list(*, owner) -> list[Webhook]:
    return list(Webhook.objects.filter(owner=owner))


def webhook_get(*, owner, webhook_id: int) -> Webhook:
    return get_object_or_404(Webhook, owner=owner, pk=webhook_id)


def webhook_deliveries(*, webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(webhook=webhook).prefetch_related("log")[:limit])


def delivery_get(*, owner, delivery_id: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("webhook"), webhook__owner=owner, pk=delivery_id
    )


def delivery_attempts(*, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(delivery.log.all())


def subscribed_webhook_ids(*, user_id: int, event_type: str) -> list[int]:
    # One query on the (owner, active) index.
    return list(
        Webhook.objects.filter(
            owner_id=user_id, active=True, events__contains=[event_type]
        ).values_list("pk", flat=True)
    )


def preferences_get(*, user) -> NotificationPreferences:
    prefs = NotificationPreferences.objects.filter(user=user).first()
    return prefs or NotificationPreferences(user=user)
