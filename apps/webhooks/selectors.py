"""Reads: a user's webhooks and deliveries (another user's are a 404), preferences."""

from django.db import connection
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.webhooks.models import NotificationPreferences, Webhook, WebhookAttempt, WebhookDelivery


def webhook_list(*, owner) -> QuerySet[Webhook]:
    """The owner's webhooks, newest first."""
    return Webhook.objects.filter(owner=owner).order_by("-created_at", "-id")


def webhook_get(*, owner, webhook_id: int) -> Webhook:
    return get_object_or_404(Webhook, owner=owner, pk=webhook_id)


def webhook_deliveries(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """The webhook's deliveries, newest first, each with its attempts (one more query)."""
    return (
        WebhookDelivery.objects.filter(webhook=webhook)
        .prefetch_related("log")
        .order_by("-created_at", "-id")
    )


def delivery_get(*, owner, delivery_id: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("webhook"), webhook__owner=owner, pk=delivery_id
    )


def delivery_attempts(*, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(delivery.log.all())


def subscribed_webhook_ids(*, user_id: int, event_type: str) -> list[int]:
    """One query on the (owner, active) index. In SQL: it runs for every domain event (each
    trade's), and building and compiling the ORM's version took twice as long as running it."""
    table = connection.ops.quote_name(Webhook._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} "  # noqa: S608 (the model's table; values are parameters)
            "WHERE owner_id = %s AND active AND events @> ARRAY[%s]::varchar[]",
            [user_id, event_type],
        )
        return [pk for (pk,) in cursor.fetchall()]


def preferences_get(*, user) -> NotificationPreferences:
    prefs = NotificationPreferences.objects.filter(user=user).first()
    return prefs or NotificationPreferences(user=user)
