"""A landed transaction's real effect, read from the chain: `TxBalances` (pre/post lamports
and token balances, fee, tip, error) from `getTransaction`, and its outcome on the Execution
row (`record_landed`). The ledger is written from these balances, never from a quote.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from solders.commitment_config import CommitmentLevel
from solders.rpc.config import RpcTransactionConfig
from solders.rpc.requests import GetTransaction
from solders.rpc.responses import GetTransactionResp
from solders.signature import Signature
from solders.transaction_status import UiTransactionEncoding

from apps.chain.constants import JITO_TIP_ACCOUNTS
from apps.chain.errors import ChainError
from apps.chain.rpc import RpcPool, single
from apps.execution.models import Execution


@dataclass(frozen=True)
class TxBalances:
    """A landed transaction's real effect, from `getTransaction` meta."""

    slot: int | None
    fee: int
    err: Any
    payer: str
    # address → (pre, post) lamports
    lamports: dict[str, tuple[int, int]] = field(default_factory=dict)
    # token account address → (owner, mint, pre raw, post raw)
    tokens: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)

    def lamports_delta(self, address: str) -> int:
        pre, post = self.lamports.get(address, (0, 0))
        return post - pre

    def token_delta(self, *, owner: str, mint: str) -> int:
        return sum(
            post - pre for o, m, pre, post in self.tokens.values() if o == owner and m == mint
        )

    @property
    def tip(self) -> int:
        """Lamports the transaction paid to Jito tip accounts."""
        return sum(max(0, self.lamports_delta(str(account))) for account in JITO_TIP_ACCOUNTS)

    def token_accounts_lamports_delta(self, *, owner: str) -> int:
        """Lamports that moved into (rent) or out of the owner's token accounts."""
        return sum(
            self.lamports_delta(address)
            for address, (o, _mint, _pre, _post) in self.tokens.items()
            if o == owner
        )


async def transactions_balances(
    *, rpc: RpcPool, signatures: Sequence[Signature]
) -> list[TxBalances | ChainError | None]:
    """`getTransaction` of each landed transaction, in one JSON-RPC batch: its balances, None
    while the node does not serve it yet, or the error the node answered for it."""
    config = RpcTransactionConfig(
        encoding=UiTransactionEncoding.Base64, commitment=CommitmentLevel.Confirmed,
        max_supported_transaction_version=0,
    )  # fmt: skip
    answers = await rpc.call_batch(
        "getTransaction", [GetTransaction(s, config) for s in signatures], GetTransactionResp
    )
    return [a if isinstance(a, ChainError) else _balances(a.value) for a in answers]


async def transaction_balances(*, rpc: RpcPool, signature: Signature) -> TxBalances | None:
    return single(await transactions_balances(rpc=rpc, signatures=[signature]))


def _balances(value) -> TxBalances | None:
    """A `getTransaction` value → its balances (None: not served yet)."""
    if value is None or value.transaction.meta is None:
        return None
    meta = value.transaction.meta
    keys = [str(key) for key in value.transaction.transaction.message.account_keys]
    loaded = getattr(meta, "loaded_addresses", None)
    if loaded is not None:
        keys += [str(key) for key in loaded.writable] + [str(key) for key in loaded.readonly]
    lamports = {
        key: (pre, post)
        for key, pre, post in zip(keys, meta.pre_balances, meta.post_balances, strict=False)
    }
    tokens: dict[str, tuple[str, str, int, int]] = {}
    for balance in meta.pre_token_balances or []:
        address = keys[balance.account_index]
        tokens[address] = (
            str(balance.owner),
            str(balance.mint),
            int(balance.ui_token_amount.amount),
            0,
        )
    for balance in meta.post_token_balances or []:
        address = keys[balance.account_index]
        pre = tokens.get(address, (None, None, 0, 0))[2]
        tokens[address] = (
            str(balance.owner),
            str(balance.mint),
            pre,
            int(balance.ui_token_amount.amount),
        )
    return TxBalances(
        slot=value.slot, fee=meta.fee, err=meta.err, payer=keys[0], lamports=lamports, tokens=tokens
    )


def error_detail(err: Any) -> str:
    return str(err)[:500]


LANDED_FIELDS = ["status", "slot", "fee_lamports", "error", "latency_ms", "updated_at"]


def record_landed(
    execution: Execution, balances: TxBalances, *, started: float | None = None
) -> Execution:
    """Set a landed transaction's outcome on its row (the caller saves `LANDED_FIELDS`)."""
    execution.status = (
        Execution.Status.FAILED if balances.err is not None else Execution.Status.LANDED
    )
    execution.slot = balances.slot
    execution.fee_lamports = balances.fee
    execution.error = None if balances.err is None else {"err": error_detail(balances.err)}
    if started is not None:
        execution.latency_ms = int((time.monotonic() - started) * 1000)
    execution.updated_at = timezone.now()
    execution.balances = balances  # for the ledger writer of this process (not stored)
    return execution
