"""Wallet fixtures: keys in every import format, a second master key, and a chain reader that
answers from a dict (the localnet-backed reader is exercised by the browser test)."""

import base64
import json
import os

import pytest
from solders.keypair import Keypair

from apps.chain.b58 import b58encode
from apps.wallets import balances as chain_balances
from apps.wallets.services import wallet_import, wallet_watch

KEK2 = base64.b64encode(b"k" * 32).decode()


class FakeReader:
    """BalanceReader over dicts; counts calls so tests can see the cache work."""

    def __init__(self):
        self.lamports: dict[str, int] = {}
        self.tokens: dict[tuple[str, str], list[chain_balances.TokenAccount]] = {}
        self.calls = 0
        self.down = False

    def get_balance(self, address: str) -> int:
        self.calls += 1
        if self.down:
            raise chain_balances.BalanceUnavailable("The RPC endpoint did not answer (Timeout).")
        return self.lamports.get(address, 0)

    def get_token_accounts_by_owner(self, owner: str, *, program_id: str):
        return self.tokens.get((owner, program_id), [])


@pytest.fixture(autouse=True)
def chain(monkeypatch):
    reader = FakeReader()
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: reader)
    return reader


@pytest.fixture
def keypair():
    return Keypair()


def secret_forms(keypair: Keypair) -> dict[str, str | bytes]:
    """Every way a key could leak: base58, hex and raw bytes of the 64-byte key and of the
    32-byte seed, and the Solana CLI JSON array (spaced and compact)."""
    raw = bytes(keypair)
    seed = keypair.secret()
    return {
        "base58": str(keypair),
        "seed_base58": b58encode(seed),
        "hex": raw.hex(),
        "seed_hex": seed.hex(),
        "json": json.dumps(list(raw)),
        "json_compact": json.dumps(list(raw), separators=(",", ":")),
        "raw": raw,
        "seed_raw": seed,
    }


def assert_no_secret(text: str | bytes, keypair: Keypair) -> None:
    for name, form in secret_forms(keypair).items():
        if isinstance(text, str) and isinstance(form, bytes):
            continue
        if isinstance(text, bytes) and isinstance(form, str):
            form = form.encode()
        assert form not in text, f"the secret key leaked ({name})"
        if isinstance(text, str) and name in ("hex", "seed_hex"):
            assert form.upper() not in text, f"the secret key leaked ({name}, upper case)"


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


IN_USE_MESSAGE = (
    "A campaign uses this wallet or it has trading history, so it cannot be deleted. "
    "Deactivate it instead."
)


def campaign_funded_by(wallet):
    """An active campaign (with its run) whose funding wallet is `wallet`."""
    from tests.campaigns.conftest import Setup, make_campaign

    setup = Setup(wallet.owner)
    setup.wallet = wallet
    return make_campaign(setup, status="active")
