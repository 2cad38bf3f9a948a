import pytest
from django.urls import reverse
from solders.keypair import Keypair

from apps.core.amounts import format_amount
from apps.core.models import AuditEvent
from apps.wallets import selectors
from apps.wallets.models import Wallet
from apps.wallets.selectors import wallet_verification_pending
from tests.factories import PASSWORD, LedgerEntryFactory
from tests.support.campaigns import SOL, make_campaign, make_trade
from tests.support.wallets import IN_USE_MESSAGE, campaign_funded_by

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page(name: str, wallet: Wallet | None = None) -> str:
    return reverse(f"wallets:{name}", args=[wallet.pk] if wallet else [])


def test_it_lists_wallets_with_balances(client, alice, alice_wallet, alice_watch, balances):
    balances.lamports[alice_wallet.address] = 2_000_000_000
    client.force_login(alice)

    full = client.get(page("list"))
    partial = client.get(page("list"), **HTMX)

    assert full.status_code == 200
    html = full.content.decode()
    assert "<h1>Wallets</h1>" in html and 'id="wallet-table"' in html
    assert f'id="wallet-row-{alice_wallet.pk}"' in html
    assert "2.000000000" in html
    partial_html = partial.content.decode()
    assert partial_html.lstrip().startswith('<section id="wallet-table">')
    assert "<h1>" not in partial_html and "2.000000000" in partial_html


def test_it_shows_an_empty_list(client, alice):
    client.force_login(alice)

    assert "No wallets yet" in client.get(page("list")).content.decode()
    assert "No maker wallets" in client.get(page("list") + "?kind=maker").content.decode()


def test_it_switches_add_tabs_with_and_without_htmx(client, alice):
    client.force_login(alice)

    full = client.get(page("add") + "?tab=watch").content.decode()
    partial = client.get(page("add") + "?tab=watch", **HTMX).content.decode()

    assert "<h1>Add a wallet</h1>" in full and 'name="address"' in full
    assert partial.lstrip().startswith('<form id="wallet-add-form"')
    assert 'name="address"' in partial and "<h1>" not in partial


def test_it_previews_an_import_and_never_renders_the_key_back(client, alice, keypair):
    client.force_login(alice)
    body = {"secret_key": str(keypair), "preview": "1"}

    partial = client.post(page("add") + "?tab=import", body, **HTMX).content.decode()
    full = client.post(page("add") + "?tab=import", body).content.decode()

    for html in (partial, full):
        assert f'<p class="mono" id="wallet-preview-address">{keypair.pubkey()}</p>' in html
        assert str(keypair) not in html
    assert partial.lstrip().startswith('<div id="wallet-preview"')
    assert "Paste the key again to save it" in full
    assert not Wallet.objects.exists()


def test_it_shows_preview_errors_in_the_partial(client, alice):
    client.force_login(alice)

    html = client.post(
        page("add") + "?tab=import", {"secret_key": "0OIl", "preview": "1"}, **HTMX
    ).content.decode()

    assert "That is not valid base58 (or a JSON array)." in html
    assert not Wallet.objects.exists()


def test_it_imports_generates_and_watches_from_the_page(client, alice, keypair, watch_keypair):
    client.force_login(alice)

    imported = client.post(page("add") + "?tab=import", {"secret_key": str(keypair)})
    generated = client.post(page("add") + "?tab=generate", {"label": "G"}, **HTMX)
    watched = client.post(page("add") + "?tab=watch", {"address": str(watch_keypair.pubkey())})

    wallet = Wallet.objects.get(address=str(keypair.pubkey()))
    assert imported.status_code == 302 and imported.url == page("detail", wallet)
    new = Wallet.objects.get(label="G")
    assert generated.status_code == 204 and generated["HX-Redirect"] == page("detail", new)
    assert watched.status_code == 302
    assert Wallet.objects.filter(owner=alice).count() == 3


def test_it_shows_form_errors_and_creates_nothing(client, alice, keypair):
    client.force_login(alice)
    mismatched = str(Keypair.from_bytes(bytes(keypair)))[:-3] + "abc"

    response = client.post(page("add") + "?tab=import", {"secret_key": mismatched})
    partial = client.post(page("add") + "?tab=import", {"secret_key": mismatched}, **HTMX)

    assert response.status_code == 200
    assert 'class="error"' in response.content.decode()
    assert mismatched not in response.content.decode()
    assert partial.content.decode().lstrip().startswith('<form id="wallet-add-form"')
    assert not Wallet.objects.exists()


def test_it_shows_the_detail_with_deposit_address_qr_and_balances(
    client, alice, alice_wallet, balances
):
    balances.lamports[alice_wallet.address] = 5
    client.force_login(alice)

    html = client.get(page("detail", alice_wallet)).content.decode()
    partial = client.get(page("detail", alice_wallet), **HTMX).content.decode()

    assert f'<p class="mono" id="wallet-address">{alice_wallet.address}</p>' in html
    assert f'data-copy="{alice_wallet.address}"' in html
    assert '<svg width="' in html and 'class="segno"' in html
    assert "0.000000005" in html
    assert "No activity yet." in html
    assert "static/js/wallets.js" in html and "<script>" not in html
    assert partial.lstrip().startswith('<section class="card" id="wallet-balances">')
    assert "0.000000005" in partial and "<h1>" not in partial


def test_it_edits_label_and_active_with_and_without_htmx(client, alice, alice_wallet):
    client.force_login(alice)

    full = client.post(page("edit", alice_wallet), {"label": "Main", "active": "on"})
    partial = client.post(page("edit", alice_wallet), {"label": "Main 2"}, **HTMX)

    assert full.status_code == 302
    assert partial.content.decode().lstrip().startswith('<form id="wallet-settings"')
    alice_wallet.refresh_from_db()
    assert (alice_wallet.label, alice_wallet.active) == ("Main 2", False)
    assert AuditEvent.objects.filter(action="wallet.update").count() == 2


def test_it_refuses_a_too_long_label(client, alice, alice_wallet):
    client.force_login(alice)

    response = client.post(page("edit", alice_wallet), {"label": "x" * 81}, **HTMX)

    assert "Ensure this value has at most 80 characters" in response.content.decode()
    alice_wallet.refresh_from_db()
    assert alice_wallet.label == "Funding"


def test_it_walks_the_verify_flow(client, alice, alice_watch, watch_keypair):
    client.force_login(alice)

    start = client.get(page("verify", alice_watch)).content.decode()
    issued = client.post(page("verify", alice_watch), **HTMX).content.decode()
    challenge = wallet_verification_pending(wallet=alice_watch)
    bad = client.post(page("verify", alice_watch), {"signature": "nope"})
    bad_partial = client.post(page("verify", alice_watch), {"signature": "nope"}, **HTMX)

    assert "Get the message to sign" in start
    assert issued.lstrip().startswith('<section id="wallet-verify">')
    assert challenge.message.split("\n")[3] in issued
    assert bad.status_code == 400 and bad_partial.status_code == 200
    assert "A base58 signature of 64 bytes." in bad_partial.content.decode()
    alice_watch.refresh_from_db()
    assert alice_watch.verified_at is None

    signature = str(watch_keypair.sign_message(challenge.message.encode()))
    done = client.post(page("verify", alice_watch), {"signature": signature}, **HTMX)

    assert done["HX-Redirect"] == page("detail", alice_watch)
    alice_watch.refresh_from_db()
    assert alice_watch.verified_at is not None


def test_it_verifies_without_htmx(client, alice, alice_watch, watch_keypair):
    client.force_login(alice)

    issued = client.post(page("verify", alice_watch))
    challenge = wallet_verification_pending(wallet=alice_watch)
    signature = str(watch_keypair.sign_message(challenge.message.encode()))
    done = client.post(page("verify", alice_watch), {"signature": signature})

    assert issued.status_code == 200 and "<h1>Verify ownership</h1>" in issued.content.decode()
    assert done.status_code == 302 and done.url == page("detail", alice_watch)


def test_it_exports_with_the_password_on_the_page(client, alice, alice_wallet, keypair, alice_mfa):
    client.force_login(alice)

    form = client.get(page("export", alice_wallet))
    wrong = client.post(
        page("export", alice_wallet), {"password": "nope", "otp_code": alice_mfa.recovery()}
    )
    shown = client.post(
        page("export", alice_wallet), {"password": PASSWORD, "otp_code": alice_mfa.code()}, **HTMX
    )

    assert form.status_code == 200 and str(keypair) not in form.content.decode()
    assert wrong.status_code == 400 and str(keypair) not in wrong.content.decode()
    assert "That is not your password." in wrong.content.decode()
    html = shown.content.decode()
    assert html.lstrip().startswith('<section id="wallet-export">')
    assert str(keypair) in html and str(list(bytes(keypair))) in html
    assert "no-store" in shown["Cache-Control"]
    full = client.post(
        page("export", alice_wallet), {"password": PASSWORD, "otp_code": alice_mfa.code()}
    )
    assert "<h1>Export the secret key</h1>" in full.content.decode()
    assert AuditEvent.objects.filter(action="wallet.export").count() == 2


def test_it_throttles_page_exports(client, alice, alice_wallet, keypair, alice_mfa):
    client.force_login(alice)
    for _ in range(5):
        client.post(page("export", alice_wallet), {"password": "nope"})

    response = client.post(
        page("export", alice_wallet), {"password": PASSWORD, "otp_code": alice_mfa.code()}
    )

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 3500
    assert "Too many key exports." in response.content.decode()
    assert str(keypair) not in response.content.decode()
    assert not AuditEvent.objects.filter(action="wallet.export").exists()


def test_it_deletes_after_confirmation(client, alice, alice_wallet, alice_watch):
    client.force_login(alice)

    confirm = client.get(page("delete", alice_wallet))
    confirm_partial = client.get(page("delete", alice_wallet), **HTMX)
    assert "Delete this wallet?" in confirm.content.decode()
    assert "export the key" in confirm.content.decode()
    assert confirm_partial.content.decode().lstrip().startswith('<section id="wallet-delete">')
    assert Wallet.objects.count() == 2

    deleted = client.post(page("delete", alice_wallet))
    deleted_htmx = client.post(page("delete", alice_watch), **HTMX)

    assert deleted.status_code == 302 and deleted.url == page("list")
    assert deleted_htmx["HX-Redirect"] == page("list")
    assert not Wallet.objects.exists()


def test_it_refuses_to_delete_a_wallet_in_use_on_the_page(client, alice, alice_wallet):
    campaign_funded_by(alice_wallet)
    client.force_login(alice)

    response = client.post(page("delete", alice_wallet))
    partial = client.post(page("delete", alice_wallet), **HTMX)

    assert response.status_code == 409
    assert IN_USE_MESSAGE in response.content.decode()
    assert partial.status_code == 200
    assert IN_USE_MESSAGE in partial.content.decode()
    assert Wallet.objects.filter(pk=alice_wallet.pk).exists()


def test_it_hides_bobs_wallets_from_alice_on_every_page(client, alice, bob_wallet):
    client.force_login(alice)
    for name in ["detail", "edit", "verify", "export", "delete"]:
        for headers in ({}, HTMX):
            assert client.get(page(name, bob_wallet), **headers).status_code == 404, name
            assert client.post(page(name, bob_wallet), {"password": PASSWORD, "label": "x"},
                               **headers).status_code == 404, name  # fmt: skip
    assert bob_wallet.address not in client.get(page("list")).content.decode()
    assert Wallet.objects.get(pk=bob_wallet.pk).label == "Bob's"
    assert not AuditEvent.objects.filter(action__startswith="wallet.export").exists()


def test_it_sends_anonymous_visitors_to_sign_in(client, alice_wallet):
    for path in [page("list"), page("add"), page("detail", alice_wallet),
                 page("export", alice_wallet), page("delete", alice_wallet)]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:signin"))
    assert client.post(page("delete", alice_wallet)).status_code == 302
    assert Wallet.objects.count() == 1


def test_it_shows_the_wallets_ledger_rows_newest_first_and_only_its_own(
    client, alice, alice_setup, bob_setup
):
    run = make_campaign(alice_setup, status="active", name="Spring volume").runs.get()
    wallet = alice_setup.wallet
    trade = make_trade(run, maker=wallet, lamports=SOL // 10)
    LedgerEntryFactory(run=run, wallet=wallet, kind="fund", lamports_delta=-3 * SOL // 2)
    LedgerEntryFactory(
        run=run, wallet=wallet, execution=trade, lamports_delta=-SOL // 10,
        mint=run.campaign.token.mint, token_delta_raw=2_500_000,
    )  # fmt: skip
    foreign = make_campaign(bob_setup, status="active", name="Bob's run").runs.get()
    LedgerEntryFactory(run=foreign, wallet=bob_setup.wallet, lamports_delta=-7)
    client.force_login(alice)

    html = client.get(page("detail", wallet)).content.decode()

    assert "No activity yet." not in html
    rows = html[html.index('id="wallet-activity"') :]
    assert rows.index("-0.100000000") < rows.index("-1.500000000")  # newest first
    assert "Funding" in rows and "Trade" in rows and "Spring volume" in rows
    decimals = run.campaign.token.decimals
    assert f"+{format_amount(2_500_000, decimals)}" in rows
    assert trade.signature[:8] in rows and "explorer.solana.com/tx/" in rows
    assert "Bob&#x27;s run" not in rows and "-0.000000007" not in rows
    assert len(selectors.wallet_activity(wallet=wallet)) == 2
