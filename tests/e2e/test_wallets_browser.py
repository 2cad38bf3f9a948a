from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.localnet.seed import fund
from apps.wallets.models import Wallet
from tests.factories import PASSWORD, UserFactory


def test_it_imports_a_key_and_sees_its_balance_from_the_localnet(
    live_server, localnet, page, screenshots
):
    UserFactory(email="dana@example.com")
    keypair = Keypair()
    fund(localnet.cluster, address=keypair.pubkey(), lamports=2_500_000_000)

    page.goto(f"{live_server.url}/accounts/signin/")
    page.get_by_label("E-mail", exact=True).first.fill("dana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    page.get_by_role("link", name="Wallets").first.click()
    page.get_by_role("heading", name="No wallets yet").wait_for()
    page.get_by_role("link", name="Add a wallet").first.click()
    page.get_by_label("Secret key").fill(str(keypair))
    page.get_by_label("Label").fill("Funding")
    page.get_by_role("button", name="Show address").click()
    page.locator("#wallet-preview-address").get_by_text(str(keypair.pubkey())).wait_for()
    assert page.get_by_label("Secret key").input_value() == str(keypair)  # not re-rendered
    page.screenshot(path=screenshots / "preview.png", full_page=True)
    page.get_by_role("button", name="Import").click()

    page.get_by_role("heading", name="Funding").wait_for()
    page.locator("#wallet-sol").get_by_text("2.500000000").wait_for()
    assert page.locator("#wallet-address").inner_text() == str(keypair.pubkey())
    assert page.locator(".qr svg").count() == 1
    assert str(keypair) not in page.content()
    page.screenshot(path=screenshots / "detail.png", full_page=True)

    # More SOL arrives; the Refresh link reloads the balances partial (after the cache TTL).
    fund(localnet.cluster, address=keypair.pubkey(), lamports=3_000_000_000)
    from django.core.cache import cache

    cache.clear()
    page.locator("#wallet-balances").get_by_role("link", name="Refresh").click()
    page.locator("#wallet-sol").get_by_text("3.000000000").wait_for()

    page.get_by_role("link", name="Wallets").first.click()
    page.locator(f"#wallet-row-{Wallet.objects.get().pk}").get_by_text("3.000000000").wait_for()
    page.screenshot(path=screenshots / "list.png", full_page=True)
    assert Pubkey.from_string(Wallet.objects.get().address) == keypair.pubkey()
