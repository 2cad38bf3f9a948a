"""E-mail notifications: one message per event the user asked for, and the daily summary.
Sent by tasks on a queue (never inside the engine's transaction), plain text with an HTML
alternative, through the configured Django e-mail backend."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string

from apps.core.amounts import format_sol
from apps.execution.models import Execution
from apps.webhooks import selectors
from apps.webhooks.models import NotificationPreferences
from apps.webhooks.receivers import MAIL_EVENTS

SUBJECTS = {
    "campaign.started": "Campaign “{name}” started",
    "campaign.completed": "Campaign “{name}” completed",
    "campaign.failed": "Campaign “{name}” failed",
    "campaign.paused": "Campaign “{name}” was paused automatically",
    "wallet.low_balance": "A funding wallet is running low",
}


def _send(*, to: str, subject: str, template: str, context: dict) -> None:
    text = render_to_string(f"webhooks/email/{template}.txt", context)
    html = render_to_string(f"webhooks/email/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html, "text/html")
    message.send()


def event_email_send(*, user_id: int, event_type: str, data: dict, at: datetime | None) -> bool:
    """Mail the user about the event if their preferences ask for it; True if sent."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or event_type not in MAIL_EVENTS:
        return False
    prefs = selectors.preferences_get(user=user)
    if not getattr(prefs, MAIL_EVENTS[event_type]):
        return False
    name = data.get("name") or f"#{data.get('campaign_id', '')}"
    context = {
        "user": user, "event_type": event_type, "data": data, "at": at, "name": name,
        "site_url": getattr(settings, "SITE_URL", ""),
    }  # fmt: skip
    _send(to=user.email, subject=SUBJECTS[event_type].format(name=name), template="event",
          context=context)  # fmt: skip
    return True


def daily_summaries_send(*, now: datetime) -> int:
    """One summary of the last 24 hours to every active user who asked for it."""
    since = now - timedelta(days=1)
    sent = 0
    user_ids = NotificationPreferences.objects.filter(daily_summary=True, user__is_active=True)
    for prefs in user_ids.select_related("user"):
        user = prefs.user
        stats = (
            Execution.objects.filter(
                campaign__owner=user, created_at__gte=since, created_at__lt=now
            )
            .exclude(side="transfer")
            .aggregate(
                landed=Count("pk", filter=Q(status="landed")),
                failed=Count("pk", filter=Q(status__in=["failed", "expired"])),
                sol_in=Sum("sol_in_lamports", filter=Q(status="landed")),
                sol_out=Sum("sol_out_lamports", filter=Q(status="landed")),
                fees=Sum("fee_lamports", filter=Q(status="landed")),
            )
        )
        volume = (stats["sol_in"] or 0) + (stats["sol_out"] or 0)
        context = {
            "user": user, "since": since, "now": now, "landed": stats["landed"],
            "failed": stats["failed"], "volume_sol": format_sol(volume),
            "fees_sol": format_sol(stats["fees"] or 0),
        }  # fmt: skip
        _send(to=user.email, subject="Your volumebot daily summary", template="daily_summary",
              context=context)  # fmt: skip
        sent += 1
    return sent
