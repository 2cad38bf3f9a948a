"""Build, send and confirm transactions (v0 messages) through an `RpcPool`.

- The compute-unit limit comes from a simulation of the final instructions, plus a margin.
- The compute-unit price comes from a `FeePolicy`: fixed, or a percentile of
  `getRecentPrioritizationFees` for the written accounts, capped.
- The blockhash and its `last_valid_block_height` are kept from the build; confirmation
  never fetches a new one. `confirm_transaction` polls signature statuses until the
  transaction landed (`landed`, or `failed` when its `meta.err` is set) or the block height
  passed `last_valid_block_height` without it (`expired`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.commitment_config import CommitmentLevel
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.config import RpcSimulateTransactionConfig
from solders.rpc.requests import SimulateVersionedTransaction
from solders.rpc.responses import SimulateTransactionResp
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus

from apps.chain.constants import MAX_COMPUTE_UNIT_LIMIT
from apps.chain.errors import ChainError, TransactionRejected
from apps.chain.rpc import RpcPool, single

DEFAULT_CU_MARGIN_BPS = 1_000  # +10 %
_MIN_CU_MARGIN = 1_000


@dataclass(frozen=True)
class FixedFee:
    """Always the same compute-unit price (micro-lamports per CU)."""

    micro_lamports: int

    async def price(self, *, rpc: RpcPool, accounts: Sequence[Pubkey]) -> int:
        return self.micro_lamports


@dataclass(frozen=True)
class PercentileFee:
    """The `percentile` of recent prioritization fees on the written accounts, within
    [floor, cap] micro-lamports per CU."""

    percentile: int = 75
    cap_micro_lamports: int = 1_000_000
    floor_micro_lamports: int = 0

    async def price(self, *, rpc: RpcPool, accounts: Sequence[Pubkey]) -> int:
        resp = await rpc.call(
            "getRecentPrioritizationFees",
            lambda c: c.get_recent_prioritization_fees(list(accounts)),
        )
        fees = sorted(f.prioritization_fee for f in resp.value)
        if not fees:
            return self.floor_micro_lamports
        index = min(len(fees) - 1, (len(fees) * self.percentile + 99) // 100 - 1)
        chosen = fees[max(index, 0)]
        return max(self.floor_micro_lamports, min(chosen, self.cap_micro_lamports))


FeePolicy = FixedFee | PercentileFee


class ConfirmStatus(enum.StrEnum):
    LANDED = "landed"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class BuiltTransaction:
    """A signed transaction and what confirmation needs later."""

    transaction: VersionedTransaction
    blockhash: Hash
    last_valid_block_height: int
    compute_unit_limit: int
    compute_unit_price: int

    @property
    def signature(self) -> Signature:
        return self.transaction.signatures[0]

    @property
    def raw(self) -> bytes:
        return bytes(self.transaction)


@dataclass(frozen=True)
class ConfirmResult:
    status: ConfirmStatus
    signature: Signature
    slot: int | None = None
    fee: int | None = None
    err: Any = None
    logs: tuple[str, ...] = ()


async def latest_blockhash(*, rpc: RpcPool) -> tuple[Hash, int]:
    resp = await rpc.call("getLatestBlockhash", lambda c: c.get_latest_blockhash(Confirmed))
    return resp.value.blockhash, resp.value.last_valid_block_height


def _writable_accounts(instructions: Sequence[Instruction]) -> list[Pubkey]:
    seen: dict[Pubkey, None] = {}
    for ix in instructions:
        for meta in ix.accounts:
            if meta.is_writable:
                seen[meta.pubkey] = None
    return list(seen)


def _sign(
    *,
    payer: Keypair,
    signers: Sequence[Keypair],
    instructions: Sequence[Instruction],
    blockhash: Hash,
) -> VersionedTransaction:
    message = MessageV0.try_compile(payer.pubkey(), list(instructions), [], blockhash)
    unique = {payer.pubkey(): payer}
    for signer in signers:
        unique.setdefault(signer.pubkey(), signer)
    return VersionedTransaction(message, list(unique.values()))


def _unsigned(
    *, payer: Pubkey, instructions: Sequence[Instruction], blockhash: Hash
) -> VersionedTransaction:
    """A transaction to simulate without signature checks: blank signatures, nothing signed."""
    message = MessageV0.try_compile(payer, list(instructions), [], blockhash)
    blank = [Signature.default()] * message.header.num_required_signatures
    return VersionedTransaction.populate(message, blank)


# The most bytes a transaction may take on the wire: the IPv6 minimum MTU (1280) less the
# IP and UDP headers; a node refuses a larger one.
PACKET_BYTES = 1232


def packet_size(*, payer: Pubkey, instructions: Sequence[Instruction]) -> int:
    """The bytes the signed transaction of `instructions` takes on the wire as
    `build_transactions` makes it (the compute-budget instructions in front, every required
    signature), computed by compiling and serializing it, not estimated."""
    budgeted = [set_compute_unit_limit(0), set_compute_unit_price(0), *instructions]
    message = MessageV0.try_compile(payer, budgeted, [], Hash.default())
    blank = [Signature.default()] * message.header.num_required_signatures
    return len(bytes(VersionedTransaction.populate(message, blank)))


def _simulation_body(transaction: VersionedTransaction) -> SimulateVersionedTransaction:
    """Simulate without signature checks, at the confirmed commitment."""
    config = RpcSimulateTransactionConfig(sig_verify=False, commitment=CommitmentLevel.Confirmed)
    return SimulateVersionedTransaction(transaction, config)


@dataclass(frozen=True)
class Unsigned:
    """What `build_transactions` builds and signs. Without `compute_unit_limit` it is
    simulated first."""

    payer: Keypair
    instructions: Sequence[Instruction]
    signers: Sequence[Keypair] = ()
    fee_policy: FeePolicy = FixedFee(0)
    compute_unit_limit: int | None = None


async def build_transactions(
    *,
    rpc: RpcPool,
    items: Sequence[Unsigned],
    cu_margin_bps: int = DEFAULT_CU_MARGIN_BPS,
    recent: tuple[Hash, int] | None = None,
    price: int | None = None,
) -> list[BuiltTransaction | ChainError]:
    """Signed v0 transactions with compute-budget instructions in front, on one blockhash,
    their simulations in one JSON-RPC batch. An item that cannot be built gets its error in
    its place: `TransactionRejected` (with the simulation's err and logs) when its simulation
    fails, so nothing is sent for it. `recent` (blockhash, last valid block height) and the
    compute-unit `price` are read from the chain unless given."""
    blockhash, last_valid = recent or await latest_blockhash(rpc=rpc)
    prices = (
        [price] * len(items)
        if price is not None
        else await asyncio.gather(
            *(
                i.fee_policy.price(rpc=rpc, accounts=_writable_accounts(i.instructions))
                for i in items
            ),
            return_exceptions=True,
        )
    )

    def budgeted(item: Unsigned, limit: int, price: int) -> list[Instruction]:
        return [set_compute_unit_limit(limit), set_compute_unit_price(price), *item.instructions]

    def signed(item: Unsigned, limit: int, price: int) -> VersionedTransaction:
        return _sign(
            payer=item.payer, signers=item.signers, instructions=budgeted(item, limit, price),
            blockhash=blockhash,
        )  # fmt: skip

    # Simulated to learn the compute units used: signature checks are off, so nothing signed.
    probes = {
        index: _unsigned(
            payer=item.payer.pubkey(), blockhash=blockhash,
            instructions=budgeted(item, MAX_COMPUTE_UNIT_LIMIT, prices[index]),
        )
        for index, item in enumerate(items)
        if item.compute_unit_limit is None and not isinstance(prices[index], BaseException)
    }  # fmt: skip
    simulations = dict(
        zip(
            probes,
            await rpc.call_batch(
                "simulateTransaction", [_simulation_body(tx) for tx in probes.values()],
                SimulateTransactionResp,
            ),
            strict=True,
        )
    )  # fmt: skip
    built: list[BuiltTransaction | ChainError] = []
    for index, item in enumerate(items):
        limit, fee = item.compute_unit_limit, prices[index]
        outcome = simulations.get(index)
        if isinstance(fee, BaseException):
            built.append(fee)
        elif isinstance(outcome, ChainError):
            built.append(outcome)
        elif outcome is not None and outcome.value.err is not None:
            built.append(
                TransactionRejected(
                    f"simulation failed: {outcome.value.err}", err=outcome.value.err,
                    logs=list(outcome.value.logs or ()), code=None,
                )
            )  # fmt: skip
        else:
            if limit is None:
                used = outcome.value.units_consumed or 0
                limit = min(used + max(used * cu_margin_bps // 10_000, _MIN_CU_MARGIN),
                            MAX_COMPUTE_UNIT_LIMIT)  # fmt: skip
            built.append(
                BuiltTransaction(signed(item, limit, fee), blockhash, last_valid, limit, fee)
            )
    return built


async def build_transaction(
    *,
    rpc: RpcPool,
    payer: Keypair,
    instructions: Sequence[Instruction],
    signers: Sequence[Keypair] = (),
    fee_policy: FeePolicy = FixedFee(0),
    compute_unit_limit: int | None = None,
    cu_margin_bps: int = DEFAULT_CU_MARGIN_BPS,
    recent: tuple[Hash, int] | None = None,
    price: int | None = None,
) -> BuiltTransaction:
    """`build_transactions` for one transaction: raises what cannot be built (a failing
    simulation: `TransactionRejected`, and nothing is sent)."""
    item = Unsigned(payer, instructions, signers, fee_policy, compute_unit_limit)
    return single(
        await build_transactions(
            rpc=rpc, items=[item], cu_margin_bps=cu_margin_bps, recent=recent, price=price
        )
    )


async def send_transaction(
    *, rpc: RpcPool, built: BuiltTransaction, skip_preflight: bool = False
) -> Signature:
    """Send the signed bytes (resending the same bytes is harmless: same signature)."""
    opts = TxOpts(skip_preflight=skip_preflight, preflight_commitment=Confirmed, max_retries=0)
    resp = await rpc.call("sendTransaction", lambda c: c.send_raw_transaction(built.raw, opts=opts))
    return resp.value


async def transaction_details(
    *, rpc: RpcPool, signature: Signature
) -> tuple[int | None, Any, tuple[str, ...]]:
    """(fee, meta.err, logs) of a landed transaction, from getTransaction."""
    resp = await rpc.call(
        "getTransaction",
        lambda c: c.get_transaction(
            signature, encoding="base64", commitment=Confirmed, max_supported_transaction_version=0
        ),
    )
    if resp.value is None or resp.value.transaction.meta is None:
        return None, None, ()
    meta = resp.value.transaction.meta
    return meta.fee, meta.err, tuple(meta.log_messages or ())


async def confirm_transaction(
    *,
    rpc: RpcPool,
    signature: Signature,
    last_valid_block_height: int,
    poll_interval_s: float = 0.4,
) -> ConfirmResult:
    """Poll until the transaction landed, or the block height passed `last_valid_block_height`.

    `expired` is only reported once the cluster's block height is beyond the window and the
    signature is still unknown (checked again after reading the height, so a transaction
    landing in between is not missed).
    """
    landed_levels = (
        TransactionConfirmationStatus.Confirmed,
        TransactionConfirmationStatus.Finalized,
    )
    while True:
        status = await _status(rpc=rpc, signature=signature)
        if status is None:
            height = await rpc.call("getBlockHeight", lambda c: c.get_block_height(Confirmed))
            if height.value > last_valid_block_height:
                status = await _status(rpc=rpc, signature=signature)
                if status is None:
                    return ConfirmResult(ConfirmStatus.EXPIRED, signature)
        if status is not None and status.confirmation_status in landed_levels:
            fee, meta_err, logs = await transaction_details(rpc=rpc, signature=signature)
            err = status.err if status.err is not None else meta_err
            return ConfirmResult(
                ConfirmStatus.FAILED if err is not None else ConfirmStatus.LANDED,
                signature,
                slot=status.slot,
                fee=fee,
                err=err,
                logs=logs,
            )
        await asyncio.sleep(poll_interval_s)


async def _status(*, rpc: RpcPool, signature: Signature):
    resp = await rpc.call(
        "getSignatureStatuses",
        lambda c: c.get_signature_statuses([signature], search_transaction_history=True),
    )
    return resp.value[0]


async def send_and_confirm(
    *,
    rpc: RpcPool,
    built: BuiltTransaction,
    skip_preflight: bool = False,
    poll_interval_s: float = 0.4,
) -> ConfirmResult:
    await send_transaction(rpc=rpc, built=built, skip_preflight=skip_preflight)
    return await confirm_transaction(
        rpc=rpc,
        signature=built.signature,
        last_valid_block_height=built.last_valid_block_height,
        poll_interval_s=poll_interval_s,
    )
