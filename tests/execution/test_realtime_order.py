"""A finished trade's event reaches its campaign's pages before the webhook subscribers do their
work on commit (a query or two per trade each): the live pages are not kept waiting on them."""

import pytest
from django.test import override_settings

from apps.execution.realtime import job_events
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_create
from tests.support.campaigns import SOL, Setup, make_campaign, make_trade
from tests.support.engine import EventListener

pytestmark = pytest.mark.django_db


def test_the_pages_get_a_trade_before_the_webhooks_are_written(
    alice, django_capture_on_commit_callbacks
):
    campaign = make_campaign(Setup(alice), status="active")
    trade = make_trade(campaign.current_run, lamports=SOL // 10)
    with override_settings(WEBHOOKS_ALLOW_PRIVATE=True):
        webhook_create(owner=alice, url="http://127.0.0.1:9/h", events=["trade.landed"])
    listener = EventListener(campaign.pk)
    extra = {"status": "succeeded", "signature": trade.signature, "side": "buy"}

    with django_capture_on_commit_callbacks() as callbacks:
        job_events([(trade.job, "job_completed", extra)])
    first, *rest = callbacks
    first()

    (published,) = listener.drain()
    assert (published["event"], published["signature"]) == ("job_completed", trade.signature)
    assert not WebhookDelivery.objects.exists()
    for callback in rest:
        callback()
    assert WebhookDelivery.objects.get().data["signature"] == trade.signature
