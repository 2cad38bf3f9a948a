"""Wallet fixtures: keys, alice's and bob's wallets, a second master key in the environment;
balances always from the fake reader (the localnet-backed reader is exercised by the browser
test). Helpers are in tests/support/wallets.py."""

import os

import pytest
from solders.keypair import Keypair

from apps.wallets.services import wallet_import, wallet_watch
from tests.support.wallets import KEK2


@pytest.fixture(autouse=True)
def _balances_from_a_fake(balances):
    """Every wallet test reads balances from the fake reader (`balances`), never the RPC."""
    return balances


@pytest.fixture
def keypair():
    return Keypair()


@pytest.fixture
def alice_wallet(alice, keypair):
    return wallet_import(owner=alice, secret_key=str(keypair), label="Funding")


@pytest.fixture
def bob_wallet(bob):
    return wallet_import(owner=bob, secret_key=str(Keypair()), label="Bob's")


@pytest.fixture
def watch_keypair():
    return Keypair()


@pytest.fixture
def alice_watch(alice, watch_keypair):
    return wallet_watch(owner=alice, address=str(watch_keypair.pubkey()), label="Cold")


@pytest.fixture
def kek2_env(monkeypatch):
    monkeypatch.setitem(os.environ, "TEST_KEK2", KEK2)
    return "TEST_KEK2"
