"""Balances read for real from the localnet (in-process, through the chain layer's RPC pool)."""

import pytest
from django.test import override_settings
from solders.keypair import Keypair

from apps.chain.rpc import EndpointConfig, RpcPool
from apps.localnet import Cluster, Faults, create_app
from apps.localnet.seed import create_mint, create_token_account, fund
from apps.wallets import balances as chain_balances
from apps.wallets.balances import PoolBalanceReader
from apps.wallets.selectors import wallet_balances

pytestmark = pytest.mark.django_db

SPL, TOKEN_2022 = list(chain_balances.TOKEN_PROGRAMS)


@pytest.fixture
def inprocess_localnet():
    cluster, faults = Cluster(slot_ms=0), Faults()
    pool = RpcPool(
        endpoints=[EndpointConfig(name="localnet", url="http://localnet", timeout_s=2,
                                  cooldown_s=0, asgi_app=create_app(cluster, faults=faults))]
    )  # fmt: skip
    return cluster, faults, PoolBalanceReader(pool)


def test_it_reads_sol_spl_and_token_2022_balances_from_the_localnet(
    inprocess_localnet, alice_wallet
):
    from solders.pubkey import Pubkey

    cluster, _, reader = inprocess_localnet
    owner = Pubkey.from_string(alice_wallet.address)
    spl_mint, t22_mint = Keypair().pubkey(), Keypair().pubkey()
    fund(cluster, address=owner, lamports=2_500_000_000)
    create_mint(cluster, address=spl_mint, decimals=6, authority=None)
    create_mint(cluster, address=t22_mint, decimals=9, authority=None,
                token_program=Pubkey.from_string(TOKEN_2022))  # fmt: skip
    for amount in (1_000_000, 234):
        create_token_account(cluster, address=Keypair().pubkey(), mint=spl_mint, owner=owner,
                             amount=amount)  # fmt: skip
    create_token_account(cluster, address=Keypair().pubkey(), mint=t22_mint, owner=owner,
                         amount=7, token_program=Pubkey.from_string(TOKEN_2022))  # fmt: skip

    assert reader.get_balance(alice_wallet.address) == 2_500_000_000
    spl = reader.get_token_accounts_by_owner(alice_wallet.address, program_id=SPL)
    assert sorted((a.mint, a.amount_raw, a.decimals) for a in spl) == [
        (str(spl_mint), 234, 6),
        (str(spl_mint), 1_000_000, 6),
    ]
    (t22,) = reader.get_token_accounts_by_owner(alice_wallet.address, program_id=TOKEN_2022)
    assert (t22.mint, t22.amount_raw, t22.decimals) == (str(t22_mint), 7, 9)


def test_it_sums_caches_and_survives_an_endpoint_down(
    inprocess_localnet, alice_wallet, monkeypatch
):
    from solders.pubkey import Pubkey

    cluster, faults, reader = inprocess_localnet
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: reader)
    owner = Pubkey.from_string(alice_wallet.address)
    mint = Keypair().pubkey()
    fund(cluster, address=owner, lamports=1)
    create_mint(cluster, address=mint, decimals=2, authority=None)
    for amount in (150, 50):
        create_token_account(cluster, address=Keypair().pubkey(), mint=mint, owner=owner,
                             amount=amount)  # fmt: skip

    first = wallet_balances(wallet=alice_wallet)
    fund(cluster, address=owner, lamports=99)
    cached = wallet_balances(wallet=alice_wallet)

    assert (first.lamports, first.sol, first.error) == (1, "0.000000001", "")
    assert [(t.mint, t.program, t.amount_raw, t.display) for t in first.tokens] == [
        (str(mint), "spl", 200, "2.00")
    ]
    assert cached == first
    with override_settings(WALLET_BALANCE_CACHE_SECONDS=0):
        faults.down = True
        down = wallet_balances(wallet=alice_wallet, network="devnet")
    assert down.lamports is None
    assert down.error.startswith("The chain could not be read (")


def test_it_says_when_no_endpoint_is_configured(alice_wallet, monkeypatch):
    monkeypatch.undo()  # the real reader_for_network, not the autouse fake
    with override_settings(SOLANA_RPC_URLS={"localnet": [], "devnet": []}):
        result = wallet_balances(wallet=alice_wallet, network="devnet")

    assert result.error == "No RPC endpoint is configured for devnet."
