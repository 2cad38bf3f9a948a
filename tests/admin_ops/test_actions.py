"""Every operator action changes state, is audited with the operator as actor, and is a no-op
when repeated (no second audit row, no second notice)."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.admin_ops import alerts, services
from apps.admin_ops.models import Alert
from apps.admin_ops.selectors import flagged_users
from apps.campaigns.models import Campaign
from apps.campaigns.services import campaign_resume, campaign_start
from apps.core.errors import Conflict
from apps.core.models import PAUSE_ALL_REASON, AuditEvent, SystemSwitch
from apps.execution.models import Job
from tests.support.campaigns import make_campaign, make_job

pytestmark = pytest.mark.django_db


def audits(action: str) -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action=action)
        .order_by("id")
        .values_list("actor__email", "entity", "entity_id")
    )


def admin_action(client, changelist: str, action: str, ids: list[int]):
    return client.post(
        reverse(changelist), {"action": action, "_selected_action": ids}, follow=True
    )


# ---------------------------------------------------------------------------------------------
# Pause-all / resume-all


def test_it_pauses_all_with_a_notice_once_and_refuses_resumes_meanwhile(
    operator, carol, alice, notices, django_capture_on_commit_callbacks
):
    paused = make_campaign(alice, status="paused")
    listener = notices()
    url = reverse("admin:control_room_pause_all")

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(url, {"enabled": "1", "message": "RPC incident"})
        operator.post(url, {"enabled": "1", "message": "again"})

    assert response.status_code == 302
    switch = SystemSwitch.objects.get(name="pause_all")
    assert (switch.enabled, switch.message, switch.updated_by) == (True, "RPC incident", carol)
    assert audits("ops.pause_all") == [("carol@example.com", "system_switch", "pause_all")]
    assert listener.drain() == [
        {"type": "notice", "level": "warning",
         "text": "An operator paused all campaigns: RPC incident"},
    ]  # fmt: skip
    # Every page shows it, and nothing can resume (or start) while it is on.
    alice_client = Client()
    alice_client.force_login(alice)
    assert "RPC incident" in alice_client.get(reverse("dashboard")).content.decode()
    with pytest.raises(Conflict) as refused:
        campaign_resume(campaign_id=paused.pk, actor=alice, owner=alice)
    assert refused.value.code == "paused_by_operator"
    with pytest.raises(Conflict):
        campaign_start(campaign_id=make_campaign(alice).pk, actor=alice, owner=alice)
    assert Campaign.objects.get(pk=paused.pk).status == "paused"


def test_it_resumes_all_the_campaigns_the_switch_paused_and_only_those(
    carol, alice, bob, notices, django_capture_on_commit_callbacks
):
    services.pause_all_set(enabled=True, actor=carol)
    by_switch = make_campaign(alice, status="paused", reason=PAUSE_ALL_REASON)
    by_owner = make_campaign(bob, status="paused", reason="")
    listener = notices()

    with django_capture_on_commit_callbacks(execute=True):
        services.pause_all_set(enabled=False, actor=carol)
        services.pause_all_set(enabled=False, actor=carol)

    assert SystemSwitch.objects.get(name="pause_all").enabled is False
    assert audits("ops.resume_all") == [("carol@example.com", "system_switch", "pause_all")]
    assert Campaign.objects.get(pk=by_switch.pk).status == "active"
    assert by_switch.runs.get().status == "running"
    assert audits("campaign.resume") == [("carol@example.com", "campaign", str(by_switch.pk))]
    assert Campaign.objects.get(pk=by_owner.pk).status == "paused"
    texts = [event["text"] for event in listener.drain() if event["type"] == "notice"]
    assert texts == ["Operators lifted the pause: campaigns run again."]


# ---------------------------------------------------------------------------------------------
# Campaign overrides


@pytest.mark.parametrize(
    ("action", "start", "target", "audited"),
    [("pause", "active", "paused", "campaign.pause"),
     ("resume", "paused", "active", "campaign.resume"),
     ("stop", "active", "stopping", "campaign.stop"),
     ("force_gather", "paused", "stopping", "campaign.stop")],
)  # fmt: skip
def test_it_overrides_a_campaign_once(operator, alice, action, start, target, audited):
    campaign = make_campaign(alice, status=start)

    admin_action(operator, "admin:campaigns_campaign_changelist", action, [campaign.pk])
    response = admin_action(operator, "admin:campaigns_campaign_changelist", action, [campaign.pk])

    campaign.refresh_from_db()
    assert campaign.status == target
    assert audits(audited) == [("carol@example.com", "campaign", str(campaign.pk))]
    assert "0 campaign(s)" in response.content.decode()


def test_it_reports_a_refused_override_and_changes_nothing(operator, alice):
    campaign = make_campaign(alice, status="draft")

    response = admin_action(operator, "admin:campaigns_campaign_changelist", "pause", [campaign.pk])

    assert "0 campaign(s) paused." in response.content.decode()
    assert "Campaign: " in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    assert audits("campaign.pause") == []


def test_it_requeues_the_gather_of_a_stopping_campaign_whose_gather_died(carol, alice):
    campaign = make_campaign(alice, status="stopping")
    run = campaign.runs.get()
    job = make_job(run, type="funds_gather", status="dead", sequence=0)
    Job.objects.filter(pk=job.pk).update(queue="funds.gather")

    services.campaign_force_gather(campaign_id=campaign.pk, actor=carol)
    services.campaign_force_gather(campaign_id=campaign.pk, actor=carol)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 0)
    assert audits("job.redrive") == [("carol@example.com", "job", str(job.pk))]
    assert Job.objects.filter(run=run).count() == 1


# ---------------------------------------------------------------------------------------------
# Users


def test_it_makes_a_user_an_admin_and_back_once(operator, alice):
    admin_action(operator, "admin:accounts_user_changelist", "make_admin", [alice.pk])
    admin_action(operator, "admin:accounts_user_changelist", "make_admin", [alice.pk])
    alice.refresh_from_db()
    assert (alice.role, alice.is_superuser) == ("admin", True)

    admin_action(operator, "admin:accounts_user_changelist", "make_user", [alice.pk])
    alice.refresh_from_db()
    assert alice.role == "user"
    assert audits("account.set_role") == [
        ("carol@example.com", "user", str(alice.pk)),
        ("carol@example.com", "user", str(alice.pk)),
    ]


def test_it_does_not_let_an_operator_demote_themselves(operator, carol):
    response = admin_action(operator, "admin:accounts_user_changelist", "make_user", [carol.pk])

    assert "You cannot remove your own admin role." in response.content.decode()
    carol.refresh_from_db()
    assert carol.role == "admin"


def test_it_suspends_a_user_signing_them_out_and_pausing_their_runs(
    operator, alice, bob, notices, django_capture_on_commit_callbacks
):
    alice_client, bob_client = Client(), Client()
    alice_client.force_login(alice)
    bob_client.force_login(bob)
    active = make_campaign(alice, status="active")
    scheduled = make_campaign(alice, status="scheduled")
    bobs = make_campaign(bob, status="active")
    listener = notices(alice.pk)

    with django_capture_on_commit_callbacks(execute=True):
        admin_action(operator, "admin:accounts_user_changelist", "suspend", [alice.pk])
        admin_action(operator, "admin:accounts_user_changelist", "suspend", [alice.pk])

    alice.refresh_from_db()
    assert alice.is_active is False
    assert audits("account.suspend") == [("carol@example.com", "user", str(alice.pk))]
    # Signed out: her session is gone and her next request is anonymous.
    response = alice_client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert bob_client.get(reverse("dashboard")).status_code == 200
    assert {s.get_decoded().get("_auth_user_id") for s in Session.objects.all()} == {
        str(bob.pk),
        str(User.objects.get(email="carol@example.com").pk),
    }
    assert Campaign.objects.get(pk=active.pk).status == "paused"
    assert Campaign.objects.get(pk=active.pk).status_reason == services.SUSPEND_REASON
    assert Campaign.objects.get(pk=scheduled.pk).status == "stopped"
    assert Campaign.objects.get(pk=bobs.pk).status == "active"
    assert audits("campaign.pause") == [("carol@example.com", "campaign", str(active.pk))]
    assert {"type": "notice", "level": "error", "text": "Your account was suspended."} in (
        listener.drain()
    )


def test_it_lifts_a_suspension_once(carol, alice):
    services.user_suspend(user_id=alice.pk, actor=carol)

    services.user_unsuspend(user_id=alice.pk, actor=carol)
    services.user_unsuspend(user_id=alice.pk, actor=carol)

    alice.refresh_from_db()
    assert alice.is_active is True
    assert audits("account.unsuspend") == [("carol@example.com", "user", str(alice.pk))]


def test_it_does_not_let_an_operator_suspend_themselves(carol):
    with pytest.raises(Conflict):
        services.user_suspend(user_id=carol.pk, actor=carol)

    carol.refresh_from_db()
    assert carol.is_active is True
    assert not AuditEvent.objects.exists()


def test_it_allows_and_disallows_mainnet_once(operator, alice):
    admin_action(operator, "admin:accounts_user_changelist", "allow_mainnet", [alice.pk])
    admin_action(operator, "admin:accounts_user_changelist", "allow_mainnet", [alice.pk])
    alice.refresh_from_db()
    assert alice.mainnet_allowed is True

    admin_action(operator, "admin:accounts_user_changelist", "disallow_mainnet", [alice.pk])
    alice.refresh_from_db()
    assert alice.mainnet_allowed is False
    assert audits("account.mainnet_allow") == [("carol@example.com", "user", str(alice.pk))]
    assert audits("account.mainnet_disallow") == [("carol@example.com", "user", str(alice.pk))]


def test_it_shows_access_fields_read_only_so_changes_go_through_the_actions(operator, alice):
    url = reverse("admin:accounts_user_change", args=[alice.pk])

    operator.post(url, {"email": alice.email, "display_name": "A", "is_staff": "on",
                        "is_superuser": "on", "mainnet_allowed": "on"})  # fmt: skip

    alice.refresh_from_db()
    assert (alice.is_staff, alice.is_superuser, alice.mainnet_allowed) == (False, False, False)


# ---------------------------------------------------------------------------------------------
# Dead-letter jobs


def test_it_redrives_dead_jobs_once_and_leaves_the_others(operator, alice):
    run = make_campaign(alice, status="paused").runs.get()
    dead = [make_job(run, status="dead", type="plan", sequence=n, attempts=5) for n in (1, 2)]
    done = make_job(run, status="succeeded", type="plan", sequence=3, attempts=5)

    ids = [job.pk for job in [*dead, done]]
    response = admin_action(operator, "admin:execution_job_changelist", "redrive", ids)
    admin_action(operator, "admin:execution_job_changelist", "redrive", ids)

    assert "2 job(s) re-driven. 1 skipped (not dead)." in response.content.decode()
    assert sorted(Job.objects.filter(run=run).values_list("status", "attempts")) == [
        ("queued", 0), ("queued", 0), ("succeeded", 5),
    ]  # fmt: skip
    assert audits("job.redrive") == [
        ("carol@example.com", "job", str(dead[0].pk)),
        ("carol@example.com", "job", str(dead[1].pk)),
    ]
    event = AuditEvent.objects.filter(action="job.redrive").first()
    assert event.metadata["error"] == {"code": "transient_exhausted", "message": "RPC down"}


# ---------------------------------------------------------------------------------------------
# Alerts and abuse flags


def test_it_raises_an_alert_for_the_owner_and_the_operators_and_folds_repeats(
    carol, alice, notices, django_capture_on_commit_callbacks
):
    campaign = make_campaign(alice, status="active")
    listener = notices(alice.pk, carol.pk)

    with django_capture_on_commit_callbacks(execute=True):
        first = alerts.alert_raise(
            kind="low_balance", user=alice, campaign=campaign, message="0.1 SOL left"
        )
        again = alerts.alert_raise(
            kind="low_balance", user=alice, campaign=campaign, message="0.05 SOL left"
        )

    assert first.pk == again.pk
    alert = Alert.objects.get()
    assert (alert.count, alert.message, alert.is_open) == (2, "0.05 SOL left", True)
    texts = [event["text"] for event in listener.drain()]
    assert texts == [
        "Low funding-wallet balance: 0.1 SOL left",
        "Low funding-wallet balance (alice@example.com): 0.1 SOL left",
        "Low funding-wallet balance: 0.05 SOL left",
        "Low funding-wallet balance (alice@example.com): 0.05 SOL left",
    ]


def test_it_resolves_an_alert_once_and_opens_a_new_one_after(operator, alice):
    alert = alerts.alert_raise(kind="reconcile_mismatch", user=alice, message="off by 5000")

    admin_action(operator, "admin:admin_ops_alert_changelist", "resolve", [alert.pk])
    admin_action(operator, "admin:admin_ops_alert_changelist", "resolve", [alert.pk])
    alerts.alert_raise(kind="reconcile_mismatch", user=alice, message="off by 7000")

    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert audits("alert.resolve") == [("carol@example.com", "alert", str(alert.pk))]
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_it_flags_users_who_trip_breakers_and_guardrails_repeatedly(alice, bob, settings):
    settings.OPS_ABUSE_THRESHOLD = 3
    campaign = make_campaign(alice, status="active")
    for _ in range(2):
        alerts.alert_raise(kind="circuit_breaker", user=alice, campaign=campaign, message="x")
    alerts.alert_raise(kind="rate_limit", user=alice, message="429 on campaign start")
    alerts.alert_raise(kind="circuit_breaker", user=bob, message="x")
    alerts.alert_raise(kind="low_balance", user=bob, message="not abuse")
    alerts.alert_raise(kind="low_balance", user=bob, message="not abuse")

    flagged = flagged_users()

    assert [(row["user__email"], row["breakers"], row["guardrails"], row["rate_limits"])
            for row in flagged] == [("alice@example.com", 2, 0, 1)]  # fmt: skip


def test_it_refuses_an_unknown_alert_kind(alice):
    with pytest.raises(ValueError, match="unknown alert kind"):
        alerts.alert_raise(kind="bored", user=alice, message="x")
    assert not Alert.objects.exists()
