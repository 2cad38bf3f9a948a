"""Reading wallet balances from the chain, behind a small interface.

`BalanceReader` is what the wallets app needs from an RPC client: the SOL balance of an address
and the token accounts it owns under one token program. `PoolBalanceReader` implements it over
the chain layer's `RpcPool` (failover, rate limits, timeouts, transient/permanent errors).
`reader_for_network()` is the one place that picks the pool for a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from apps.chain.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from apps.chain.errors import ChainError
from apps.chain.rpc import RpcPool
from apps.chain.spl import MINT_LEN, TOKEN_ACCOUNT_LEN, decode_mint, decode_token_account
from apps.core.chain import rpc_pool
from apps.core.errors import DomainError

TOKEN_PROGRAMS = {str(TOKEN_PROGRAM_ID): "spl", str(TOKEN_2022_PROGRAM_ID): "token2022"}


class BalanceUnavailable(Exception):
    """The chain could not be read (transient: timeout, endpoint down, no endpoint configured)."""


@dataclass(frozen=True)
class TokenAccount:
    address: str
    mint: str
    amount_raw: int
    decimals: int


class BalanceReader(Protocol):
    def get_balance(self, address: str) -> int:
        """Lamports held by `address`."""

    def get_token_accounts_by_owner(self, owner: str, *, program_id: str) -> list[TokenAccount]:
        """Token accounts of `owner` under the token program `program_id`."""


def reader_for_network(network: str) -> BalanceReader:
    try:
        return PoolBalanceReader(rpc_pool(network))
    except DomainError as error:  # no endpoint configured for the network
        raise BalanceUnavailable(error.message) from error


def _mint_and_amount(data: bytes) -> tuple[str, int]:
    """(mint, amount) of an SPL Token or Token-2022 account (the same base layout)."""
    if len(data) < TOKEN_ACCOUNT_LEN:
        raise BalanceUnavailable("A token account has an unexpected layout.")
    account = decode_token_account(data)
    return str(account.mint), account.amount


class PoolBalanceReader:
    """BalanceReader over an `RpcPool` (sync, via its `call_sync`)."""

    def __init__(self, pool: RpcPool):
        self.pool = pool

    def _call(self, method: str, fn):
        try:
            return self.pool.call_sync(method, fn)
        except ChainError as error:
            raise BalanceUnavailable(f"The chain could not be read ({error}).") from error

    def get_balance(self, address: str) -> int:
        async def call(client) -> int:
            return (await client.get_balance(Pubkey.from_string(address))).value

        return self._call("getBalance", call)

    def get_token_accounts_by_owner(self, owner: str, *, program_id: str) -> list[TokenAccount]:
        async def accounts(client):
            response = await client.get_token_accounts_by_owner(
                Pubkey.from_string(owner),
                TokenAccountOpts(program_id=Pubkey.from_string(program_id)),
            )
            return [
                (str(keyed.pubkey), *_mint_and_amount(bytes(keyed.account.data)))
                for keyed in response.value
            ]

        decoded = self._call("getTokenAccountsByOwner", accounts)
        mints = sorted({mint for _, mint, _ in decoded})
        decimals: dict[str, int] = {}
        if mints:

            async def mint_accounts(client):
                response = await client.get_multiple_accounts(
                    [Pubkey.from_string(mint) for mint in mints]
                )
                return response.value

            for mint, account in zip(mints, self._call("getMultipleAccounts", mint_accounts),
                                     strict=True):  # fmt: skip
                if account is not None and len(account.data) >= MINT_LEN:
                    decimals[mint] = decode_mint(bytes(account.data)).decimals
        return [
            TokenAccount(address=address, mint=mint, amount_raw=amount,
                         decimals=decimals.get(mint, 0))
            for address, mint, amount in decoded
        ]  # fmt: skip
