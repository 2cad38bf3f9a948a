"""A newcomer's own first campaign on the localnet, with nothing handed over: sign up, verify,
generate a wallet, request SOL from the localnet, register a token the localnet seeded (offered
on the register page), pick its pool, start a campaign and see its first landed trade. Prints
how long that took (the PRD's success metric: under 5 minutes)."""

import time

import pytest

from apps.execution.models import Execution
from apps.localnet.seed import seed_token
from apps.tokens.models import Pool
from apps.wallets.models import Wallet
from tests.e2e.live_asgi import (
    asgi_server,
    shoot,
    sign_up_verify_and_sign_in,
    start_campaign_in_the_wizard,
)
from tests.support.engine import wait_for

__all__ = ["asgi_server"]  # a fixture


@pytest.mark.django_db(transaction=True)
def test_a_newcomer_runs_a_first_campaign_from_sign_up(
    asgi_server, chain, workers, page, screenshots, settings, tmp_path
):
    settings.EMAIL_BACKEND = "apps.core.mail.DevEmailBackend"
    settings.MAIL_DIR = tmp_path / "mail"
    # What `manage.py localnet --seed` does for the demo token, for a token of this test's own.
    seeded = seed_token(chain.cluster, name="Newcomer Coin", symbol="NEWC", wallets=0)
    started = time.monotonic()

    sign_up_verify_and_sign_in(
        page, asgi_server, email="nina@example.com", mail_dir=tmp_path / "mail"
    )

    # A fresh wallet, funded by the localnet's faucet.
    page.get_by_role("link", name="Wallets").first.click()
    page.get_by_role("link", name="Add a wallet").first.click()
    page.get_by_role("link", name="Generate").click()
    page.get_by_text("A new key is generated").wait_for()
    page.get_by_label("Label").fill("First wallet")
    page.get_by_role("button", name="Generate").click()
    page.locator("#wallet-sol").get_by_text("0.000000000").wait_for()
    page.get_by_label("Free localnet SOL").select_option("5")
    page.get_by_role("button", name="Request SOL").click()
    page.locator("#wallet-sol").get_by_text("5.000000000").wait_for()
    shoot(page, screenshots, "wallet-funded")

    # The token, picked from what the localnet holds, and its Raydium AMM v4 pool.
    page.get_by_role("link", name="Tokens").first.click()
    page.get_by_role("link", name="Register a token").first.click()
    shoot(page, screenshots, "register-offers-seeded-tokens")
    page.get_by_role("button", name="Add NEWC").click()
    page.get_by_role("heading", name="Newcomer Coin").wait_for()
    row = page.locator("#pool-candidates tr", has_text=str(seeded.raydium.amm))
    row.get_by_role("button", name="Select").click()
    row.get_by_text("selected").wait_for()
    pool = Pool.objects.get(address=str(seeded.raydium.amm))

    wallet = Wallet.objects.get(owner__email="nina@example.com", label="First wallet")
    start_campaign_in_the_wizard(
        page, name="My first campaign", pool=pool, wallet=wallet, target_sol="1"
    )

    page.locator('#trade-feed-rows tr[id^="trade-"]').first.wait_for(timeout=120_000)
    landed = wait_for(
        lambda: Execution.objects.filter(
            run__campaign__name="My first campaign", status=Execution.Status.LANDED,
            side__in=["buy", "sell"],
        ).first(),
        timeout=60, what="the first landed trade",
    )  # fmt: skip
    page.locator(f"#trade-{landed.pk}").wait_for()
    elapsed = time.monotonic() - started
    shoot(page, screenshots, "first-trade")
    print(f"\nfirst campaign: sign-up to first landed trade in {elapsed:.1f} s (target < 300 s)")
    assert landed.run.campaign.owner.email == "nina@example.com"
