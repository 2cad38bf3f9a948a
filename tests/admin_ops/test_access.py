"""Who gets the operator console, and what it never shows or lets anyone edit."""

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.services import audit_log
from apps.execution.models import Execution, Job, LedgerEntry
from apps.wallets.models import UserKey, Wallet
from tests.factories import WalletFactory
from tests.support.campaigns import make_campaign, make_execution, make_job

pytestmark = pytest.mark.django_db

CONSOLE_PAGES = ["admin:index", "admin:control_room", "admin:core_auditevent_changelist"]


def changelists() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_it_sends_anonymous_visitors_to_the_admin_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login/")


def test_it_gives_a_non_staff_user_no_admin_page(client, alice):
    client.force_login(alice)

    for url in [reverse(name) for name in CONSOLE_PAGES] + changelists():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/admin/login/"), url
    # Nor can alice act: the pause-all switch is untouched.
    response = client.post(reverse("admin:control_room_pause_all"), {"enabled": "1"})
    assert response.status_code == 302
    assert not AuditEvent.objects.exists()


def test_it_opens_every_changelist_for_an_operator(operator, alice):
    campaign = make_campaign(alice, status="active")
    run = campaign.runs.get()
    job = make_job(run, status="dead", type="plan")
    make_execution(run, job=job)
    audit_log(actor=alice, action="campaign.start", entity="campaign", entity_id=campaign.pk)

    for url in changelists():
        response = operator.get(url)
        assert response.status_code == 200, url


def test_it_never_shows_a_secret_field(operator, alice):
    wallet = WalletFactory(owner=alice, label="Funding")
    key = UserKey.objects.get(owner=alice)

    pages = [
        reverse("admin:wallets_wallet_changelist"),
        reverse("admin:wallets_wallet_change", args=[wallet.pk]),
        reverse("admin:wallets_userkey_changelist"),
        reverse("admin:wallets_userkey_change", args=[key.pk]),
    ]
    for url in pages:
        content = operator.get(url).content.decode()
        assert "encrypted_secret" not in content
        assert "wrapped_dek" not in content
        assert wallet.encrypted_secret.hex()[:16] not in content


@pytest.mark.parametrize("model", [AuditEvent, Execution, LedgerEntry, Job])
def test_it_keeps_history_read_only(rf, carol, model):
    request = rf.get("/")
    request.user = carol
    model_admin = admin.site._registry[model]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_it_refuses_to_edit_an_audit_event(operator, alice):
    event = audit_log(actor=alice, action="campaign.start", entity="campaign", entity_id=1)
    url = reverse("admin:core_auditevent_change", args=[event.pk])

    response = operator.post(url, {"action": "forged", "entity": "campaign"})

    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "campaign.start"


def test_it_searches_the_audit_log_by_actor_and_exports_it_as_csv(operator, alice, bob):
    audit_log(actor=alice, action="campaign.start", entity="campaign", entity_id=1)
    audit_log(actor=bob, action="campaign.stop", entity="campaign", entity_id=2)
    url = reverse("admin:core_auditevent_changelist")

    listed = operator.get(url, {"q": "alice@example.com"}).context["cl"].result_list
    assert [event.action for event in listed] == ["campaign.start"]
    by_action = operator.get(url, {"action__exact": "campaign.stop"}).context["cl"].result_list
    assert [event.actor for event in by_action] == [bob]

    response = operator.post(
        url, {"action": "export_csv", "_selected_action": list(
            AuditEvent.objects.values_list("pk", flat=True))},
    )  # fmt: skip
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "created_at,actor,action,entity,entity_id,ip,metadata"
    assert [line.split(",")[1:5] for line in lines[1:]] == [
        ["alice@example.com", "campaign.start", "campaign", "1"],
        ["bob@example.com", "campaign.stop", "campaign", "2"],
    ]


def test_it_keeps_wallets_out_of_reach_of_the_add_form(operator):
    assert operator.get(reverse("admin:wallets_wallet_add")).status_code == 403
    assert Wallet.objects.count() == 0
