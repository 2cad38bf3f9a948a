"""The transition table, exhaustively: every state and every action. Allowed moves happen once
(campaign, run, one audit row, one event on commit), repeats are no-ops, forbidden moves are a
409 that changes nothing. User actions go through the API, engine actions through services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.campaigns import services, transitions
from apps.campaigns.models import CampaignRun
from apps.core.errors import Conflict
from apps.core.models import AuditEvent
from apps.execution.models import Job
from tests.support.campaigns import make_campaign

pytestmark = pytest.mark.django_db

STATES = ["draft", "scheduled", "active", "paused", "stopping", "stopped", "completed", "failed"]
ACTIONS = ["schedule", "start", "pause", "resume", "stop", "finish", "complete", "fail"]
API_ACTIONS = {"start", "pause", "resume", "stop"}
X, NOOP = "refused", "no-op"

# Written out by hand (not derived from the code under test).
SCH, ACT, PAU, STG = "scheduled", "active", "paused", "stopping"
STD, CMP, FLD = "stopped", "completed", "failed"
EXPECTED = {
    #             schedule start pause resume stop finish complete fail
    "draft":     [SCH,     ACT,  X,    X,     X,   X,     X,       X],
    "scheduled": [NOOP,    ACT,  X,    X,     STD, X,     X,       FLD],
    "active":    [X,       NOOP, PAU,  NOOP,  STG, X,     CMP,     FLD],
    "paused":    [X,       X,    NOOP, ACT,   STG, X,     CMP,     FLD],
    "stopping":  [X,       X,    X,    X,     NOOP, STD,  CMP,     FLD],
    "stopped":   [SCH,     ACT,  X,    X,     NOOP, NOOP, X,       X],
    "completed": [SCH,     ACT,  X,    X,     NOOP, X,    NOOP,    X],
    "failed":    [SCH,     ACT,  X,    X,     NOOP, X,    X,       NOOP],
}  # fmt: skip
RUN_FOR = {
    "active": "running", "paused": "paused", "stopping": "stopping", "stopped": "stopped",
    "completed": "completed", "failed": "failed",
}  # fmt: skip
CASES = [
    (state, action, EXPECTED[state][index])
    for state in STATES
    for index, action in enumerate(ACTIONS)
]


def act(api, campaign, action):
    """Perform `action`; (HTTP-like status, error code, message)."""
    if action in API_ACTIONS:
        response = api.post(f"/v1/campaigns/{campaign.pk}/{action}")
        error = response.json().get("error", {}) if response.status_code != 200 else {}
        return response.status_code, error.get("code"), error.get("message")
    call = {
        "schedule": lambda: services.campaign_schedule(campaign_id=campaign.pk, actor=None),
        "finish": lambda: transitions.campaign_finish(campaign_id=campaign.pk),
        "complete": lambda: transitions.campaign_complete(campaign_id=campaign.pk, reason="done"),
        "fail": lambda: transitions.campaign_fail(campaign_id=campaign.pk, reason="broken"),
    }[action]
    try:
        call()
    except Conflict as error:
        return error.status_code, error.code, error.message
    return 200, None, None


def snapshot(campaign):
    campaign.refresh_from_db()
    runs = list(CampaignRun.objects.filter(campaign=campaign).values_list("id", "status"))
    audits = AuditEvent.objects.filter(entity="campaign", entity_id=str(campaign.pk)).count()
    return campaign.status, runs, audits


@pytest.mark.parametrize(
    ("state", "action", "expected"), CASES, ids=[f"{s}-{a}" for s, a, _ in CASES]
)
def test_it_follows_the_transition_table(
    alice_api, alice_setup, funded, state, action, expected, django_capture_on_commit_callbacks
):
    now = timezone.now()
    # schedule needs a future start; start on a scheduled campaign happens once it is due.
    start_at = {"schedule": now + timedelta(hours=1)}.get(action)
    if action == "start" and state == "scheduled":
        start_at = now - timedelta(minutes=1)
    campaign = make_campaign(alice_setup, status=state, start_at=start_at)
    before = snapshot(campaign)

    with django_capture_on_commit_callbacks() as callbacks:
        code, error_code, message = act(alice_api, campaign, action)
    after = snapshot(campaign)

    if expected == X:
        assert code == 409
        assert error_code == "invalid_transition"
        assert message  # every refusal says why (checked word for word below for some)
        assert after == before
        assert callbacks == []
        return
    assert code == 200
    if expected == NOOP:
        assert after == before
        assert callbacks == []
        return
    status, runs, audits = after
    assert status == expected
    assert audits == before[2] + 1
    # run_status_changed and forgetting the cached status on commit, plus the run engine's
    # first job where the move needs one.
    engine_job = {"start": Job.Type.DISTRIBUTE}.get(action)
    if action == "stop" and expected == "stopping":
        engine_job = Job.Type.FUNDS_GATHER
    # And the subscribers' event (campaign.started, .paused, ...) where the move has one.
    announced = {"start": "active", "resume": "active"}.get(action) == expected or expected in (
        "paused", "stopped", "completed", "failed",
    )  # fmt: skip
    assert len(callbacks) == 2 + (engine_job is not None) + announced
    if engine_job is not None:
        assert Job.objects.filter(run__campaign=campaign, type=engine_job).count() == 1
    entry = AuditEvent.objects.filter(entity_id=str(campaign.pk)).order_by("-id").first()
    assert entry.action == f"campaign.{action}"
    assert entry.metadata["from"] == state
    assert entry.metadata["to"] == expected
    if action == "start":
        assert len(runs) == len(before[1]) + 1  # each start is a new run
        assert runs[0][1] == "running"
    else:
        assert len(runs) == len(before[1])
    if expected in RUN_FOR and action != "start" and before[1]:
        live = CampaignRun.objects.filter(campaign=campaign).order_by("-id").first()
        assert live.status == RUN_FOR[expected]
    # Repeating the move is a no-op.
    with django_capture_on_commit_callbacks() as again:
        repeat_code, _, _ = act(alice_api, campaign, action)
    assert repeat_code == 200
    assert snapshot(campaign) == after
    assert again == []


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        ("paused", "start", "The campaign is paused: resume it instead of starting it again."),
        ("stopping", "start", "The campaign is still stopping (its funds are being gathered); "
                              "start it again once it has stopped."),
        ("draft", "stop", "The campaign has not been started, so there is nothing to stop."),
        ("draft", "pause", "A draft campaign cannot pause; that is only possible from active."),
        ("stopped", "resume", "A stopped campaign cannot resume; that is only possible from "
                              "paused."),
    ],
)  # fmt: skip
def test_it_explains_a_refused_transition(alice_api, alice_setup, state, action, message):
    campaign = make_campaign(alice_setup, status=state)

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/{action}")

    assert response.status_code == 409
    assert response.json()["error"]["message"] == message


def test_it_ends_the_run_when_the_campaign_ends(alice_setup):
    campaign = make_campaign(alice_setup, status="stopping")
    now = timezone.now()

    transitions.campaign_finish(campaign_id=campaign.pk, reason="All funds gathered.", now=now)

    run = campaign.runs.get()
    assert (run.status, run.ended_at, run.status_reason) == ("stopped", now, "All funds gathered.")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == ("stopped", "All funds gathered.")


def test_it_pauses_with_the_reason_shown(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="active")

    response = alice_api.post(
        f"/v1/campaigns/{campaign.pk}/pause", {"reason": "Checking the chart"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["status_reason"]) == ("paused", "Checking the chart")
    assert (body["run"]["status"], body["run"]["status_reason"]) == ("paused", "Checking the chart")


def test_it_starts_a_new_run_from_the_params_seed_and_window(alice_setup, funded):
    campaign = make_campaign(alice_setup, params={"duration_seconds": 3600, "seed": 99})
    now = timezone.now()

    services.campaign_start(campaign_id=campaign.pk, actor=alice_setup.user, now=now)

    run = campaign.runs.get()
    assert (run.status, run.seed, run.started_at) == ("running", 99, now)
    assert run.ends_at == now + timedelta(hours=1)
    assert run.summary == {"mode": "live", "maker_count": 3}
