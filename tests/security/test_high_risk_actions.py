"""High-risk actions: master-key rotation, key export and mainnet enablement leave audit rows;
the optional IP allow lists guard the admin site and mainnet campaign starts."""

import base64

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.admin_ops.services import user_set_mainnet
from apps.campaigns.models import CampaignRun
from apps.core.models import AuditEvent
from apps.wallets import keystore
from tests.factories import PASSWORD, WalletFactory
from tests.support.campaigns import Setup, make_campaign

pytestmark = pytest.mark.django_db

NEW_KEK = base64.b64encode(b"another-master-key-of-32-bytes!!").decode()


def audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# --- Audit -------------------------------------------------------------------------------------


def test_it_audits_a_master_key_rotation_once_per_run(alice, bob, monkeypatch, settings):
    WalletFactory(owner=alice)
    WalletFactory(owner=bob)
    monkeypatch.setenv("TEST_OLD_KEK", settings.WALLET_MASTER_KEY)
    monkeypatch.setenv("TEST_NEW_KEK", NEW_KEK)
    old = keystore.current_master_key()
    new = keystore.MasterKey(base64.b64decode(NEW_KEK))

    call_command("rotate_master_key", old_key_env="TEST_OLD_KEK", new_key_env="TEST_NEW_KEK")

    (run,) = audits("keystore.master_key_rotate")
    assert (run.actor, run.entity, run.entity_id) == (None, "master_key", new.fingerprint)
    assert run.metadata == {
        "from": old.fingerprint, "to": new.fingerprint,
        "rewrapped": 2, "skipped": 0, "gone": 0, "unknown": 0,
    }  # fmt: skip
    assert len(audits("wallet.kek_rotate")) == 2
    # Fingerprints only: neither key appears in the record.
    assert settings.WALLET_MASTER_KEY not in str(run.metadata)
    assert NEW_KEK not in str(run.metadata)


def test_it_audits_key_exports_and_refusals(alice, alice_api):
    wallet = WalletFactory(owner=alice)
    url = reverse("api:wallet_export", args=[wallet.pk])
    refused = alice_api.post(url, {"password": "wrong-password"}, REMOTE_ADDR="10.1.1.1")
    assert refused.status_code == 400
    exported = alice_api.post(url, {"password": PASSWORD}, REMOTE_ADDR="10.1.1.2")
    assert exported.status_code == 200

    (refusal,) = audits("wallet.export_refused")
    (export,) = audits("wallet.export")
    assert (refusal.actor, refusal.entity_id, refusal.ip) == (alice, str(wallet.pk), "10.1.1.1")
    assert (export.actor, export.entity_id, export.ip) == (alice, str(wallet.pk), "10.1.1.2")
    secret = exported.json()["secret_key_base58"]
    assert secret not in str(export.metadata)


def test_it_audits_mainnet_enablement(alice, carol):
    user_set_mainnet(user_id=alice.pk, allowed=True, actor=carol, ip="10.2.2.2")
    user_set_mainnet(user_id=alice.pk, allowed=False, actor=carol, ip="10.2.2.2")
    (allow,) = audits("account.mainnet_allow")
    (disallow,) = audits("account.mainnet_disallow")
    for row in (allow, disallow):
        assert (row.actor, row.entity, row.entity_id, row.ip) == (
            carol, "user", str(alice.pk), "10.2.2.2",
        )  # fmt: skip


# --- Admin allow list --------------------------------------------------------------------------


def test_it_hides_the_admin_outside_the_allowed_networks(carol, settings):
    settings.ADMIN_ALLOWED_NETWORKS = ["10.0.0.0/8", "192.0.2.7"]
    client = Client()
    client.force_login(carol)
    for path in (reverse("admin:index"), reverse("admin:control_room"), reverse("admin:login")):
        assert client.get(path, REMOTE_ADDR="198.51.100.1").status_code == 404, path
        assert client.get(path, REMOTE_ADDR="10.9.8.7").status_code in (200, 302), path
    assert client.get(reverse("admin:index"), REMOTE_ADDR="192.0.2.7").status_code == 200
    # The rest of the site is not affected.
    assert client.get(reverse("dashboard"), REMOTE_ADDR="198.51.100.1").status_code == 200


def test_it_opens_the_admin_to_everyone_without_an_allow_list(carol):
    client = Client()
    client.force_login(carol)
    assert client.get(reverse("admin:index"), REMOTE_ADDR="198.51.100.1").status_code == 200


# --- Mainnet start allow list ------------------------------------------------------------------


@pytest.fixture
def mainnet_campaign(alice):
    alice.mainnet_allowed, alice.attested_at = True, timezone.now()
    alice.save(update_fields=["mainnet_allowed", "attested_at"])
    return make_campaign(Setup(alice, network="mainnet-beta"), status="paused")


def test_it_refuses_a_mainnet_start_from_outside_the_allowed_networks(
    alice, alice_api, mainnet_campaign, settings
):
    settings.MAINNET_START_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    url = reverse("api:campaign_start", args=[mainnet_campaign.pk])
    runs = CampaignRun.objects.filter(campaign=mainnet_campaign).count()

    response = alice_api.post(url, REMOTE_ADDR="198.51.100.1")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "ip_not_allowed",
        "message": "Mainnet campaigns can only be started from the allowed networks.",
        "fields": {},
    }
    mainnet_campaign.refresh_from_db()
    assert mainnet_campaign.status == "paused"
    assert CampaignRun.objects.filter(campaign=mainnet_campaign).count() == runs
    (refusal,) = audits("campaign.start_refused")
    assert (refusal.actor, refusal.entity_id, refusal.ip) == (
        alice, str(mainnet_campaign.pk), "198.51.100.1",
    )  # fmt: skip
    assert refusal.metadata == {"reason": "ip_not_allowed", "network": "mainnet-beta"}


def test_it_refuses_a_mainnet_start_on_the_page_with_a_message(alice, mainnet_campaign, settings):
    settings.MAINNET_START_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    client = Client()
    client.force_login(alice)
    url = reverse("campaigns:action", args=[mainnet_campaign.pk, "start"])
    response = client.post(url, REMOTE_ADDR="198.51.100.1", follow=True)
    assert b"Mainnet campaigns can only be started from the allowed networks." in response.content
    mainnet_campaign.refresh_from_db()
    assert mainnet_campaign.status == "paused"


def test_it_refuses_scheduling_a_mainnet_start_from_outside(alice, mainnet_campaign, settings):
    from apps.campaigns.services import campaign_schedule
    from apps.core.errors import Forbidden

    settings.MAINNET_START_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    with pytest.raises(Forbidden):
        campaign_schedule(
            campaign_id=mainnet_campaign.pk, actor=alice, owner=alice, ip="198.51.100.1"
        )
    assert len(audits("campaign.start_refused")) == 1


def test_it_lets_allowed_networks_and_other_networks_through(
    alice, alice_api, mainnet_campaign, settings
):
    """Inside the list the start goes on to its usual checks (here: the funding wallet has no
    balance, a 409); a localnet campaign is never subject to the list."""
    settings.MAINNET_START_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    url = reverse("api:campaign_start", args=[mainnet_campaign.pk])
    response = alice_api.post(url, REMOTE_ADDR="10.3.4.5")
    assert response.status_code != 403
    assert response.json().get("error", {}).get("code") != "ip_not_allowed"

    localnet = make_campaign(Setup(alice), status="active")
    other = alice_api.post(
        reverse("api:campaign_start", args=[localnet.pk]), REMOTE_ADDR="198.51.100.1"
    )
    assert other.status_code == 200
    assert not audits("campaign.start_refused")


def test_it_applies_no_mainnet_list_when_unset(alice_api, mainnet_campaign):
    url = reverse("api:campaign_start", args=[mainnet_campaign.pk])
    response = alice_api.post(url, REMOTE_ADDR="198.51.100.1")
    assert response.status_code != 403
    assert not audits("campaign.start_refused")
