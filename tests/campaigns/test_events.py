"""Domain events for subscribers (webhooks, e-mail): sent once the change commits, never for a
rolled-back one, and a failing subscriber stops neither the others nor the producer."""

import pytest
from django.db import transaction

from apps.admin_ops.alerts import alert_raise
from apps.campaigns.services import campaign_resume, campaign_start
from apps.campaigns.transitions import campaign_pause
from apps.core import events
from tests.support.campaigns import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    received = []

    def receiver(*, event_type, user_id, data, at, **_):
        received.append((event_type, user_id, data))

    events.domain_event.connect(receiver)
    yield received
    events.domain_event.disconnect(receiver)


def test_campaign_moves_are_announced_after_commit(alice_setup, funded, heard):
    campaign = make_campaign(alice_setup, name="Launch")

    campaign_start(campaign_id=campaign.pk, actor=alice_setup.user)
    campaign_pause(campaign_id=campaign.pk, actor=alice_setup.user, reason="lunch")
    campaign_resume(campaign_id=campaign.pk, actor=alice_setup.user)

    assert [(name, user) for name, user, _ in heard] == [
        ("campaign.started", alice_setup.user.pk),
        ("campaign.paused", alice_setup.user.pk),
        ("campaign.resumed", alice_setup.user.pk),
    ]
    run_id = campaign.runs.get().pk
    assert heard[1][2] == {
        "campaign_id": campaign.pk, "name": "Launch", "status": "paused", "run_id": run_id,
        "reason": "lunch", "by": "owner",
    }  # fmt: skip


def test_nothing_is_announced_for_a_rolled_back_change(alice_setup, heard):
    campaign = make_campaign(alice_setup)

    with pytest.raises(RuntimeError), transaction.atomic():
        alert_raise(kind="low_balance", user=alice_setup.user, campaign=campaign, message="low")
        raise RuntimeError("rolled back")

    assert heard == []


def test_alerts_reach_subscribers_as_their_event(alice_setup, heard):
    campaign = make_campaign(alice_setup)

    alert = alert_raise(kind="low_balance", user=alice_setup.user, campaign=campaign, message="x")
    alert_raise(kind="rate_limit", user=alice_setup.user, message="operators only")

    assert heard == [
        ("wallet.low_balance", alice_setup.user.pk,
         {"alert_id": alert.pk, "kind": "low_balance", "message": "x", "count": 1,
          "campaign_id": campaign.pk}),
    ]  # fmt: skip


def test_a_failing_subscriber_stops_neither_the_others_nor_the_producer(alice_setup, heard):
    def broken(**_):
        raise ValueError("subscriber bug")

    events.domain_event.connect(broken)
    try:
        events.emit(event_type="trade.failed", user_id=alice_setup.user.pk, data={"job_id": 1})
    finally:
        events.domain_event.disconnect(broken)

    assert heard == [("trade.failed", alice_setup.user.pk, {"job_id": 1})]


def test_an_unknown_event_type_is_a_programming_error():
    with pytest.raises(ValueError, match=r"unknown event type 'campaign\.exploded'"):
        events.emit(event_type="campaign.exploded", user_id=1, data={})
