"""Alerts: raised by the engine, the campaigns and the platform about a user's runs; the owner
sees a notice, the operators a to-do item (`apps.admin_ops.services.alert_resolve`).

Below both the campaigns and the engine (it imports neither's services), so both can raise one.
"""

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.admin_ops.models import Alert
from apps.campaigns.models import Campaign
from apps.core import events, metrics
from apps.core.realtime import notice_publish

# The alerts a user's subscribers hear about (rate-limit hits are for the operators only).
ALERT_EVENTS = {
    Alert.Kind.LOW_BALANCE: "wallet.low_balance",
    Alert.Kind.CIRCUIT_BREAKER: "guardrail.tripped",
    Alert.Kind.GUARDRAIL: "guardrail.tripped",
    Alert.Kind.RECONCILE_MISMATCH: "guardrail.tripped",
}


def alert_raise(*, kind: str, user: User, campaign: Campaign | None = None, message: str) -> Alert:
    """Raise an alert for `user` (and the operators). An open alert of the same kind about the
    same campaign is bumped instead of duplicated. The owner sees a notice on their open pages;
    so do the signed-in operators. Call it inside the transaction of the change it reports."""
    if kind not in Alert.Kind.values:
        raise ValueError(f"unknown alert kind {kind!r}")
    now = timezone.now()
    message = message[:500]
    with transaction.atomic():
        # Row lock: two workers reporting the same problem bump one alert.
        alert = (
            Alert.objects.select_for_update()
            .filter(kind=kind, user=user, campaign=campaign, resolved_at__isnull=True)
            .first()
        )
        if alert is None:
            alert = Alert.objects.create(
                kind=kind, user=user, campaign=campaign, message=message, last_seen_at=now
            )
        else:
            alert.count += 1
            alert.message, alert.last_seen_at = message, now
            alert.save(update_fields=["count", "message", "last_seen_at"])
        label = Alert.Kind(kind).label
        notice_publish(text=f"{label}: {message}", level="warning", user_id=user.pk)
        operators = User.objects.filter(is_staff=True, is_active=True).exclude(pk=user.pk)
        for operator_id in operators.values_list("pk", flat=True):
            notice_publish(
                text=f"{label} ({user.email}): {message}", level="warning", user_id=operator_id
            )
        if kind in ALERT_EVENTS:
            events.emit(
                event_type=ALERT_EVENTS[kind], user_id=user.pk,
                data={"alert_id": alert.pk, "kind": kind, "message": message, "count": alert.count,
                      "campaign_id": campaign.pk if campaign else None},
            )  # fmt: skip
    metrics.ALERTS.labels(kind=kind).inc()
    return alert


def on_rate_limit_exceeded(*, user: User, scope: str, label: str, **_) -> None:
    """Receiver of `apps.core.throttling.rate_limit_exceeded` (connected in apps.py): a user
    hitting a limit is an abuse signal for the operators."""
    alert_raise(kind=Alert.Kind.RATE_LIMIT, user=user, message=f"Too many {label} (limit {scope}).")
