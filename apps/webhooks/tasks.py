from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.webhooks import notifications, services


@shared_task(name="webhooks.deliver")
def deliver(delivery_id: int) -> str:
    """One attempt of a delivery; the service schedules the next one if it may help."""
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.redrive")
def redrive() -> list[int]:
    """Beat: send again the pending deliveries whose task is long overdue."""
    return services.deliveries_redrive(now=timezone.now())


@shared_task(name="webhooks.notify_email")
def notify_email(*, user_id: int, event_type: str, data: dict, at: str) -> bool:
    return notifications.event_email_send(
        user_id=user_id, event_type=event_type, data=data, at=parse_datetime(at)
    )


@shared_task(name="webhooks.daily_summary")
def daily_summary() -> int:
    """Beat: the daily summary e-mail to everyone who asked for it."""
    return notifications.daily_summaries_send(now=timezone.now())
