"""Two-factor authentication in Chromium: a user turns it on (scans the QR code: the test reads
the key shown beside it and computes the RFC 6238 code itself), keeps the recovery codes, and
exports a wallet key with a code; a wrong code shows an error and no key."""

import re

import pytest
from solders.keypair import Keypair

from apps.accounts.mfa import mfa_enabled
from apps.core.models import AuditEvent
from apps.wallets.services import wallet_import
from tests.factories import PASSWORD, UserFactory
from tests.support.mfa import totp

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_enrols_two_factor_and_exports_a_key_with_a_code(live_server, page, screenshots):
    user = UserFactory(email="erin@example.com")
    keypair = Keypair()
    wallet = wallet_import(owner=user, secret_key=str(keypair), label="Funding")

    page.goto(f"{live_server.url}/accounts/signin/")
    page.get_by_label("E-mail", exact=True).first.fill("erin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    # Without two-factor authentication the export page sends the user to turn it on.
    page.goto(f"{live_server.url}/wallets/{wallet.pk}/export/")
    page.locator("#export-needs-mfa").get_by_role("link", name="Turn it on").click()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    assert page.locator("#two-factor-qr svg").count() == 1
    secret = page.locator("#two-factor-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    page.screenshot(path=screenshots / "enrol.png", full_page=True)

    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    page.get_by_text("That code is not valid").first.wait_for()
    assert not mfa_enabled(user=user)

    page.get_by_label("Code").fill(totp(secret))
    page.get_by_role("button", name="Turn on").click()
    page.locator("#recovery-codes").get_by_text("Two-factor authentication is on.").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    page.screenshot(path=screenshots / "recovery-codes.png", full_page=True)
    assert mfa_enabled(user=user)

    page.goto(f"{live_server.url}/wallets/{wallet.pk}/export/")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Two-factor code").fill("123456")
    page.get_by_role("button", name="Show the key").click()
    page.get_by_text("That code is not valid").first.wait_for()
    assert str(keypair) not in page.content()
    assert not AuditEvent.objects.filter(action="wallet.export").exists()

    page.get_by_label("Your password").fill(PASSWORD)
    # The step's code was spent on the set-up: the authenticator's next one.
    page.get_by_label("Two-factor code").fill(totp(secret, steps_ahead=1))
    page.get_by_role("button", name="Show the key").click()
    page.locator("#export-base58").wait_for()
    assert page.locator("#export-base58").input_value() == str(keypair)
    page.screenshot(path=screenshots / "export.png", full_page=True)
    assert AuditEvent.objects.filter(action="wallet.export").count() == 1
