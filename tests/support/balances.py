"""A chain balance reader answering from dicts, in place of the RPC reader."""

import pytest

from apps.wallets import balances as chain_balances


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


def fake_balances(monkeypatch: pytest.MonkeyPatch) -> FakeReader:
    """Make every network's balance reads answer from a fresh FakeReader, and return it."""
    reader = FakeReader()
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: reader)
    return reader
