""" "Request SOL": the localnet's (or devnet's) requestAirdrop, rate-limited, never on mainnet."""

import pytest
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _sol(localnet, wallet) -> int:
    return localnet.cluster.get_balance(Pubkey.from_string(wallet.address))


def test_a_localnet_wallet_requests_sol(client, alice, alice_wallet, localnet):
    client.force_login(alice)
    page = client.get(f"/wallets/{alice_wallet.pk}/").content.decode()
    assert 'id="wallet-airdrop"' in page and "Free localnet SOL" in page

    response = client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "2"}, follow=True)

    assert _sol(localnet, alice_wallet) == 2 * LAMPORTS_PER_SOL
    assert "2 SOL requested" in response.content.decode()
    (event,) = AuditEvent.objects.filter(action="wallet.airdrop")
    assert event.metadata["sol"] == 2 and event.metadata["network"] == "localnet"


def test_it_refuses_other_amounts_and_other_users_wallets(
    client, alice, bob, alice_wallet, localnet
):
    client.force_login(alice)
    response = client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "500"}, follow=True)
    assert "Choose 1, 2, 5 SOL." in response.content.decode()
    client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "lots"})
    client.force_login(bob)
    assert client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "1"}).status_code == 404
    assert client.get(f"/wallets/{alice_wallet.pk}/airdrop/").status_code == 405
    assert _sol(localnet, alice_wallet) == 0
    assert not AuditEvent.objects.filter(action="wallet.airdrop").exists()


def test_mainnet_never_offers_nor_airdrops(client, alice, alice_wallet, localnet, settings):
    settings.SOLANA_DEFAULT_NETWORK = "mainnet-beta"
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "mainnet-beta": [localnet.url]}
    client.force_login(alice)
    assert 'id="wallet-airdrop"' not in client.get(f"/wallets/{alice_wallet.pk}/").content.decode()

    response = client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "1"}, follow=True)

    assert "SOL can only be requested on localnet and devnet, not on mainnet-beta." in (
        response.content.decode()
    )
    assert _sol(localnet, alice_wallet) == 0
    assert not AuditEvent.objects.filter(action="wallet.airdrop").exists()


def test_requests_are_rate_limited(client, alice, alice_wallet, localnet, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "airdrop": "2/hour"}
    client.force_login(alice)
    for _ in range(2):
        assert client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "1"}).status_code == 302
    denied = client.post(f"/wallets/{alice_wallet.pk}/airdrop/", {"sol": "1"})
    assert denied.status_code == 429
    assert _sol(localnet, alice_wallet) == 2 * LAMPORTS_PER_SOL
    assert AuditEvent.objects.filter(action="wallet.airdrop").count() == 2
