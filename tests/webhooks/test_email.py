"""E-mail notifications: sent by a task after the event, honouring the user's preferences."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core import events
from apps.webhooks import notifications, services
from tests.support.engine import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def campaign_event(user, event_type, **data):
    events.emit(
        event_type=event_type, user_id=user.pk,
        data={"campaign_id": 3, "name": "Alpha", "reason": "", "by": "owner", **data},
    )  # fmt: skip


def test_it_mails_the_owner_when_a_campaign_starts(alice, webhook_worker):
    campaign_event(alice, "campaign.started")

    wait_for(lambda: mail.outbox, timeout=20, what="the e-mail")
    [message] = mail.outbox
    assert message.to == [alice.email]
    assert message.subject == "Campaign “Alpha” started"
    assert "Your campaign “Alpha” started." in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and "Your campaign “Alpha” started." in html


def test_it_mails_only_pauses_by_the_engine(alice, monkeypatch):
    from apps.webhooks import tasks
    from apps.webhooks.receivers import on_domain_event_mail

    enqueued = []
    monkeypatch.setattr(tasks.notify_email, "apply_async", lambda **kw: enqueued.append(kw))

    for by in ("owner", "engine", "operator"):
        on_domain_event_mail(
            event_type="campaign.paused", user_id=alice.pk, data={"by": by}, at=timezone.now()
        )

    assert [e["kwargs"]["data"]["by"] for e in enqueued] == ["engine"]
    assert [e["queue"] for e in enqueued] == ["default"]


def test_it_honours_the_preferences(alice):
    services.preferences_update(user=alice, campaign_completed=False)

    sent = notifications.event_email_send(
        user_id=alice.pk, event_type="campaign.completed", data={"name": "Alpha"}, at=None
    )
    also = notifications.event_email_send(
        user_id=alice.pk, event_type="campaign.failed", data={"name": "Alpha"}, at=None
    )

    assert (sent, also) == (False, True)
    assert [m.subject for m in mail.outbox] == ["Campaign “Alpha” failed"]


def test_it_does_not_mail_for_other_events(alice):
    assert not notifications.event_email_send(
        user_id=alice.pk, event_type="trade.landed", data={}, at=None
    )
    assert mail.outbox == []


def test_it_sends_the_daily_summary_to_who_asked(alice, bob):
    services.preferences_update(user=alice, daily_summary=True)

    sent = notifications.daily_summaries_send(now=timezone.now() + timedelta(seconds=1))

    assert sent == 1
    [message] = mail.outbox
    assert message.to == [alice.email]
    assert message.subject == "Your volumebot daily summary"
    assert "Trades landed: 0" in message.body


def test_it_mails_a_low_balance_alert(alice):
    sent = notifications.event_email_send(
        user_id=alice.pk, event_type="wallet.low_balance",
        data={"kind": "low_balance", "message": "Funding wallet has 0.01 SOL left."}, at=None,
    )  # fmt: skip

    assert sent is True
    [message] = mail.outbox
    assert (message.to, message.subject) == ([alice.email], "A funding wallet is running low")
    assert "Funding wallet has 0.01 SOL left." in message.body
