"""Beat starts scheduled campaigns at their start time and stops them at their window end.
Time is controlled: the tick is called with a fixed `now`."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.campaigns.models import Campaign
from apps.campaigns.services import campaign_start, campaigns_schedule_tick
from apps.campaigns.tasks import schedule_tick
from apps.core.errors import ValidationFailed
from apps.core.periodic import PERIODIC_TASKS
from tests.factories import SystemSwitchFactory
from tests.support.campaigns import REQUIRED_LAMPORTS, make_campaign

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)  # in the future whenever the suite runs
SECOND = timedelta(seconds=1)


def status(campaign) -> str:
    campaign.refresh_from_db()
    return campaign.status


def test_it_starts_at_the_start_time_and_stops_at_the_window_end(alice_setup, funded):
    campaign = make_campaign(alice_setup, start_at=T0, end_at=T0 + timedelta(hours=2))

    scheduled = campaign_start(
        campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - 60 * SECOND
    )

    assert scheduled.status == "scheduled"
    assert not campaign.runs.exists()
    assert campaigns_schedule_tick(now=T0 - SECOND) == {"started": [], "stopped": [], "failed": []}
    assert status(campaign) == "scheduled"

    assert campaigns_schedule_tick(now=T0) == {
        "started": [campaign.pk],
        "stopped": [],
        "failed": [],
    }
    assert status(campaign) == "active"
    run = campaign.runs.get()
    assert (run.status, run.started_at, run.ends_at) == ("running", T0, T0 + timedelta(hours=2))

    assert campaigns_schedule_tick(now=T0 + timedelta(hours=2) - SECOND)["stopped"] == []
    assert status(campaign) == "active"

    result = campaigns_schedule_tick(now=T0 + timedelta(hours=2))
    assert result == {"started": [], "stopped": [campaign.pk], "failed": []}
    assert status(campaign) == "stopping"
    assert campaign.status_reason == "The schedule window ended."
    run.refresh_from_db()
    assert run.status == "stopping"
    # The next tick changes nothing.
    assert campaigns_schedule_tick(now=T0 + timedelta(hours=3)) == {
        "started": [], "stopped": [], "failed": [],
    }  # fmt: skip


def test_it_stops_a_duration_window_counted_from_the_actual_start(alice_setup, funded):
    campaign = make_campaign(alice_setup, start_at=T0, params={"duration_seconds": 600})
    campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - SECOND)
    late = T0 + 30 * SECOND  # beat fired a little late

    campaigns_schedule_tick(now=late)
    assert campaign.runs.get().ends_at == late + timedelta(minutes=10)
    campaigns_schedule_tick(now=late + timedelta(minutes=10) - SECOND)
    assert status(campaign) == "active"

    campaigns_schedule_tick(now=late + timedelta(minutes=10))
    assert status(campaign) == "stopping"


def test_it_keeps_a_campaign_scheduled_while_an_operator_paused_all(alice_setup, funded):
    campaign = make_campaign(alice_setup, start_at=T0)
    campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - SECOND)
    switch = SystemSwitchFactory(name="pause_all")

    assert campaigns_schedule_tick(now=T0) == {"started": [], "stopped": [], "failed": []}
    assert status(campaign) == "scheduled"

    switch.enabled = False
    switch.save()
    assert campaigns_schedule_tick(now=T0 + 10 * SECOND)["started"] == [campaign.pk]
    assert status(campaign) == "active"


def test_it_fails_a_scheduled_start_with_the_reason(alice_setup, balances):
    balances.lamports[alice_setup.wallet.address] = REQUIRED_LAMPORTS - 50_000
    campaign = make_campaign(alice_setup, start_at=T0)
    campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - SECOND)

    assert campaigns_schedule_tick(now=T0)["failed"] == [campaign.pk]

    assert status(campaign) == "failed"
    assert campaign.status_reason == (
        "The funding wallet holds 1.5 SOL but this campaign needs 1.50005 SOL to start "
        "(3 makers at 0.5 SOL each plus 0.00005 SOL of fees): it is 0.00005 SOL short."
    )
    assert not campaign.runs.exists()


def test_it_stops_a_scheduled_campaign_whose_window_passed_before_it_started(alice_setup, funded):
    campaign = make_campaign(alice_setup, start_at=T0, end_at=T0 + timedelta(minutes=5))
    campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - SECOND)

    assert campaigns_schedule_tick(now=T0 + timedelta(minutes=5))["stopped"] == [campaign.pk]

    assert status(campaign) == "stopped"
    assert campaign.status_reason == "The schedule window ended before the campaign could start."
    assert not campaign.runs.exists()


def test_it_refuses_to_schedule_a_campaign_that_breaks_a_guardrail(alice_setup, settings):
    campaign = make_campaign(alice_setup, start_at=T0)
    settings.CAMPAIGN_MAX_MAKERS = 2

    with pytest.raises(ValidationFailed, match="Between 1 and 2 maker wallets"):
        campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=T0 - SECOND)

    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_it_declares_the_beat_job():
    declared = {periodic.task: periodic for periodic in PERIODIC_TASKS}

    assert declared["campaigns.schedule_tick"].every_seconds == 10


def test_it_runs_the_beat_task_with_the_current_time(alice_setup, funded):
    assert schedule_tick() == {"started": [], "stopped": [], "failed": []}
