"""A real campaign run on the localnet through real workers on every queue: the receiver gets
the subscribed events in order, each signed, and the owner gets the start and completion
e-mails."""

import hashlib
import hmac

import pytest
from django.core import mail

from apps.execution.models import Execution, Job
from apps.webhooks import services
from apps.webhooks.models import WebhookDelivery
from tests.support.engine import run_to_completion, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_localnet_run_delivers_its_events_in_order_and_mails_the_owner(
    setup, workers, receiver, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    webhook, secret = services.webhook_create(
        owner=setup.user, url=receiver.url,
        events=["campaign.started", "trade.landed", "campaign.completed"],
    )  # fmt: skip
    campaign = setup.campaign()

    run = run_to_completion(setup, campaign)
    wait_for(
        lambda: any(e["type"] == "campaign.completed" for e in receiver.events()),
        timeout=30, what="campaign.completed at the receiver",
    )  # fmt: skip
    wait_for(
        lambda: not WebhookDelivery.objects.filter(webhook=webhook, status="pending").exists(),
        timeout=30, what="every delivery to settle",
    )  # fmt: skip

    received = receiver.events()
    # The trades the engine landed (gathering sells too, but that is not a trade job).
    signatures = set(
        Execution.objects.filter(
            run=run, status="landed", job__type__in=[Job.Type.TRADE_BUY, Job.Type.TRADE_SELL]
        ).values_list("signature", flat=True)
    )
    types = [event["type"] for event in received]
    # Every landed trade once, between the start and the completion (arrival order).
    assert len(signatures) > 0
    assert types == ["campaign.started", *["trade.landed"] * len(signatures), "campaign.completed"]
    assert {e["data"]["signature"] for e in received[1:-1]} == signatures
    # And the events' own times are in the same order.
    times = [event["created_at"] for event in received]
    assert times[0] <= min(times[1:-1]) and max(times[1:-1]) <= times[-1]
    assert {e["data"]["campaign_id"] for e in received if e["type"].startswith("campaign.")} == {
        campaign.pk
    }
    assert len({event["id"] for event in received}) == len(received)
    for request in receiver.requests:
        signed = f"{request['headers']['X-Volumebot-Timestamp']}.{request['body'].decode()}"
        digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        assert request["headers"]["X-Volumebot-Signature"] == "v1=" + digest
    assert set(
        WebhookDelivery.objects.filter(webhook=webhook).values_list("status", flat=True)
    ) == {"succeeded"}

    wait_for(lambda: len(mail.outbox) >= 2, timeout=30, what="the e-mails")
    subjects = sorted((m.subject, tuple(m.to)) for m in mail.outbox)
    assert subjects == [
        ("Campaign “Engine” completed", (setup.user.email,)),
        ("Campaign “Engine” started", (setup.user.email,)),
    ]
