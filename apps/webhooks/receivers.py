"""Receivers of apps.core.events.domain_event (connected in apps.py). They run after the
producer's commit, so they stay cheap: one indexed query and task enqueues, nothing else."""

from apps.webhooks import services

# E-mails a user may ask for, by event type; campaign.paused mails only when the engine paused it.
MAIL_EVENTS = {
    "campaign.started": "campaign_started",
    "campaign.completed": "campaign_completed",
    "campaign.failed": "campaign_failed",
    "campaign.paused": "campaign_auto_paused",
    "wallet.low_balance": "low_balance",
}


def on_domain_event(*, event_type, user_id, data, at, **_) -> None:
    services.deliveries_for_event(event_type=event_type, user_id=user_id, data=data, at=at)


def on_domain_event_mail(*, event_type, user_id, data, at, **_) -> None:
    if event_type not in MAIL_EVENTS:
        return
    if event_type == "campaign.paused" and data.get("by") != "engine":
        return
    from apps.webhooks.tasks import notify_email

    notify_email.apply_async(
        kwargs={"user_id": user_id, "event_type": event_type, "data": data, "at": at.isoformat()},
        queue="default",
    )
