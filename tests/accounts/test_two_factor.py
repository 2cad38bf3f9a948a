"""Second factor: enrolment on the settings page (QR code, a code computed here from the shown
key, recovery codes shown once), codes used once, and what needs a code: key export (page and
API, also for API keys), the admin for staff, the admin's allow-mainnet and re-wrap actions."""

import base64
import re
from importlib import import_module
from urllib.parse import quote

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from solders.keypair import Keypair

from apps.accounts.mfa import mfa_enabled, mfa_verify, recovery_code_digest
from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.models import UserKey
from apps.wallets.services import wallet_import
from tests.factories import PASSWORD
from tests.support.mfa import enrol, login_verified, totp

pytestmark = pytest.mark.django_db

SETTINGS = reverse("accounts:two_factor")


def export_url(wallet) -> str:
    return reverse("api:wallet_export", args=[wallet.pk])


def test_it_enrols_with_a_qr_code_and_a_code_from_the_shown_key(client, alice):
    client.force_login(alice)
    off = client.get(SETTINGS)
    assert "Two-factor authentication is <strong>off</strong>" in off.content.decode()
    assert off["Cache-Control"] == "no-store"

    started = client.post(SETTINGS, {"action": "start"}).content.decode()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7]+)<', started).group(1)
    assert '<div class="qr" id="two-factor-qr"><svg' in started
    device = TOTPDevice.objects.get(user=alice)
    assert device.confirmed is False
    assert base64.b32encode(device.bin_key).decode() == secret
    assert not mfa_enabled(user=alice)

    wrong = client.post(SETTINGS, {"action": "confirm", "otp_code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not valid" in wrong.content.decode()
    assert not mfa_enabled(user=alice)
    assert not AuditEvent.objects.filter(action="account.mfa_enable").exists()

    done = client.post(SETTINGS, {"action": "confirm", "otp_code": totp(secret)})

    html = done.content.decode()
    assert done.status_code == 200
    codes = re.findall(r"<li>([0-9a-f]{10})</li>", html)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert mfa_enabled(user=alice)
    # Stored as digests, one per code: none of the codes is in the database.
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10 and not stored & set(codes)
    (event,) = AuditEvent.objects.filter(action="account.mfa_enable")
    assert event.actor == alice
    # Shown once: the next visit says how many are left, not which.
    again = client.get(SETTINGS).content.decode()
    assert "10 recovery codes left" in again
    assert not any(code in again for code in codes)


def test_it_accepts_each_code_once(alice):
    enrolled = enrol(alice)
    code = enrolled.code()
    recovery = enrolled.recovery()

    assert mfa_verify(user=alice, code=code) is not None
    assert mfa_verify(user=alice, code=code) is None  # replayed within its time step
    assert mfa_verify(user=alice, code=recovery) is not None
    assert mfa_verify(user=alice, code=recovery) is None
    assert StaticToken.objects.filter(device__user=alice).count() == 9
    assert mfa_verify(user=alice, code="") is None


def test_it_turns_two_factor_off_only_with_a_code(client, alice):
    enrolled = enrol(alice)
    client.force_login(alice)

    refused = client.post(SETTINGS, {"action": "disable", "otp_code": "123"})
    assert refused.status_code == 400 and mfa_enabled(user=alice)

    done = client.post(SETTINGS, {"action": "disable", "otp_code": enrolled.code()})
    assert done.status_code == 302
    assert not mfa_enabled(user=alice)
    assert not StaticToken.objects.filter(device__user=alice).exists()
    assert AuditEvent.objects.filter(action="account.mfa_disable").count() == 1


def test_it_refuses_a_key_export_without_two_factor(client, alice, alice_api):
    wallet = wallet_import(owner=alice, secret_key=str(Keypair()))

    response = alice_api.post(export_url(wallet), {"password": PASSWORD})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_required"
    assert "secret_key_base58" not in response.json()
    assert not AuditEvent.objects.filter(action="wallet.export").exists()
    client.force_login(alice)
    page = client.get(reverse("wallets:export", args=[wallet.pk])).content.decode()
    assert 'id="export-needs-mfa"' in page and 'name="password"' not in page


def test_it_refuses_a_key_export_with_a_wrong_or_spent_code(alice, alice_api, alice_mfa):
    keypair = Keypair()
    wallet = wallet_import(owner=alice, secret_key=str(keypair))
    recovery = alice_mfa.recovery()

    for code in ["", "000000", "not-a-code"]:
        response = alice_api.post(export_url(wallet), {"password": PASSWORD, "otp_code": code})
        assert response.status_code == 400, code
        assert response.json()["error"]["code"] == "wrong_otp_code"
        assert str(keypair) not in response.content.decode()
    assert not AuditEvent.objects.filter(action="wallet.export").exists()
    assert AuditEvent.objects.filter(action="account.mfa_refused").count() == 3

    ok = alice_api.post(export_url(wallet), {"password": PASSWORD, "otp_code": recovery})
    spent = alice_api.post(export_url(wallet), {"password": PASSWORD, "otp_code": recovery})

    assert ok.status_code == 200 and ok.json()["secret_key_base58"] == str(keypair)
    assert spent.status_code == 400
    assert AuditEvent.objects.filter(action="wallet.export").count() == 1


def test_an_api_key_reads_without_a_code_but_exports_only_with_one(alice, alice_api, alice_mfa):
    wallet = wallet_import(owner=alice, secret_key=str(Keypair()))
    raw = alice_api.post("/v1/api-keys", {"name": "bot", "scope": "trade"}).json()["key"]
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert bot.get("/v1/wallets").status_code == 200
    refused = bot.post(export_url(wallet), {"password": PASSWORD})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "wrong_otp_code"
    assert not AuditEvent.objects.filter(action="wallet.export").exists()


def test_staff_reach_the_admin_only_after_the_second_factor(carol):
    client = Client()
    client.force_login(carol)
    verify = reverse("accounts:two_factor_verify")
    # No device yet: the code page sends staff to the set-up.
    assert client.get(verify).url == SETTINGS
    enrolled = enrol(carol)
    assert client.get(reverse("admin:index")).status_code == 302

    wrong = client.post(verify, {"otp_code": "000000", "next": reverse("admin:index")})
    assert wrong.status_code == 400
    assert client.get(reverse("admin:index")).status_code == 302
    elsewhere = client.post(verify, {"otp_code": enrolled.code(), "next": "https://evil.test/"})
    assert elsewhere.url == reverse("dashboard")  # only local redirects

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:control_room")).status_code == 200


def test_the_admin_allows_mainnet_only_with_a_fresh_code_and_for_users_with_two_factor(
    carol, alice, bob
):
    client = Client()
    operator = login_verified(client, carol)
    enrol(alice)
    changelist = reverse("admin:accounts_user_changelist")
    body = {"action": "allow_mainnet", "_selected_action": [alice.pk, bob.pk]}

    asked = client.post(changelist, body)
    assert asked.status_code == 200
    assert 'name="otp_code"' in asked.content.decode()
    wrong = client.post(changelist, {**body, "otp_code": "000000"})
    assert wrong.status_code == 400
    alice.refresh_from_db()
    assert alice.mainnet_allowed is False
    assert not AuditEvent.objects.filter(action="account.mainnet_allow").exists()

    done = client.post(changelist, {**body, "otp_code": operator.code()}, follow=True)

    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.mainnet_allowed, bob.mainnet_allowed) == (True, False)
    page = done.content.decode()
    # (the admin's message list capitalises the first letter)
    assert "Bob@example.com: Turn on two-factor authentication first" in page
    assert "1 user(s) allowed on mainnet." in page
    (allow,) = AuditEvent.objects.filter(action="account.mainnet_allow")
    assert (allow.actor, allow.entity_id) == (carol, str(alice.pk))


def test_the_admin_rewraps_data_keys_under_the_current_master_key_with_a_code(
    carol, alice, settings
):
    keypair = Keypair()
    wallet = wallet_import(owner=alice, secret_key=str(keypair))
    old_key = settings.WALLET_MASTER_KEY
    settings.WALLET_MASTER_KEY = base64.b64encode(b"n" * 32).decode()
    settings.WALLET_MASTER_KEY_PREVIOUS = old_key
    client = Client()
    operator = login_verified(client, carol)
    changelist = reverse("admin:wallets_userkey_changelist")
    user_key = UserKey.objects.get(owner=alice)
    body = {"action": "rewrap_current", "_selected_action": [user_key.pk]}

    asked = client.post(changelist, body)
    assert asked.status_code == 200 and 'name="otp_code"' in asked.content.decode()
    user_key.refresh_from_db()
    assert user_key.kek_fingerprint != keystore.current_master_key().fingerprint

    done = client.post(changelist, {**body, "otp_code": operator.code()}, follow=True)

    assert "1 re-wrapped, 0 already current, 0 wrapped by a master key" in done.content.decode()
    user_key.refresh_from_db()
    assert user_key.kek_fingerprint == keystore.current_master_key().fingerprint
    settings.WALLET_MASTER_KEY_PREVIOUS = ""
    assert keystore.sign_with(wallet, b"m") == keypair.sign_message(b"m")
    (event,) = AuditEvent.objects.filter(action="wallet.kek_rotate")
    assert event.actor == carol


def test_the_code_page_keeps_the_next_address_for_staff(carol):
    client = Client()
    client.force_login(carol)
    enrol(carol)

    login = client.get(reverse("admin:login") + "?next=" + quote("/admin/core/auditevent/"))

    assert login.url == (
        reverse("accounts:two_factor_verify") + "?next=" + quote("/admin/core/auditevent/", safe="")
    )
    page = client.get(login.url).content.decode()
    assert 'name="next" value="/admin/core/auditevent/"' in page


def test_it_backs_off_after_a_wrong_code(alice, settings):
    # One wrong code locks the authenticator for factor * 2^(failures-1) seconds: an hour here.
    settings.OTP_TOTP_THROTTLE_FACTOR = 3600
    enrolled = enrol(alice)

    assert mfa_verify(user=alice, code="000000") is None
    assert mfa_verify(user=alice, code=enrolled.code()) is None  # right, but too soon

    # A recovery code goes to its own device, which has no failures to back off from.
    assert mfa_verify(user=alice, code=enrolled.recovery()) is not None


def test_a_database_read_does_not_reveal_a_recovery_code_and_each_still_works_once(alice):
    enrolled = enrol(alice)
    stored = list(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))

    dumped = " ".join(stored)
    assert not any(code in dumped for code in enrolled.recovery_codes)
    # What the database holds is no code either.
    assert all(mfa_verify(user=alice, code=value) is None for value in stored)
    assert StaticToken.objects.filter(device__user=alice).count() == 10
    code = enrolled.recovery()
    assert mfa_verify(user=alice, code=code) is not None
    assert mfa_verify(user=alice, code=code) is None
    assert StaticToken.objects.filter(device__user=alice).count() == 9


def test_codes_made_under_a_rotated_secret_key_still_work(alice, settings):
    enrolled = enrol(alice)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-a-rotation-0123456789"

    assert mfa_verify(user=alice, code=enrolled.recovery()) is not None
    assert mfa_verify(user=alice, code="0123456789") is None


def test_the_migration_hashes_the_codes_stored_in_clear_and_they_work_once(alice):
    device = StaticDevice.objects.create(user=alice, name="Recovery codes", confirmed=True)
    StaticToken.objects.bulk_create(
        [StaticToken(device=device, token=code) for code in ("0a1b2c3d4e", "5f6a7b8c9d")]
    )  # as the codes were stored before
    migration = import_module("apps.accounts.migrations.0006_recovery_codes_hashed")

    migration.hash_recovery_codes(django_apps, None)
    migration.hash_recovery_codes(django_apps, None)  # run again: nothing hashed twice

    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert stored == {recovery_code_digest("0a1b2c3d4e"), recovery_code_digest("5f6a7b8c9d")}
    assert mfa_verify(user=alice, code="0a1b2c3d4e") is not None
    assert mfa_verify(user=alice, code="0a1b2c3d4e") is None
    assert mfa_verify(user=alice, code="5f6a7b8c9d") is not None


def test_the_seeded_demo_admin_comes_with_its_authenticator_and_its_key_printed(db):
    from apps.accounts.models import User
    from apps.localnet.management.commands.seed_demo import (
        ADMIN_EMAIL,
        DEMO_EMAIL,
        demo_accounts_create,
    )

    printed = "\n".join(demo_accounts_create())

    admin = User.objects.get(email=ADMIN_EMAIL)
    key = re.search(r"two-factor key ([A-Z2-7]+)", printed).group(1)
    recovery = re.search(r"recovery codes (.+)", printed).group(1).split()
    assert mfa_enabled(user=admin) and len(recovery) == 10
    assert mfa_verify(user=admin, code=totp(key)) is not None
    assert mfa_verify(user=admin, code=recovery[0]) is not None
    # The demo user enrols like anyone; seeding again creates (and prints) nothing.
    assert not mfa_enabled(user=User.objects.get(email=DEMO_EMAIL))
    assert demo_accounts_create() == []
