"""The idempotent send of DESIGN §5: never twice, never lost.

`send_once` is called by a step while its job is locked (see `runner.job_execute`):

1. an earlier attempt with a signature is resolved first, by `getSignatureStatuses`: landed →
   that execution is the answer (a landed transaction can have failed: `meta.err`); unknown
   and the block height past its `last_valid_block_height` → expired; otherwise it may still
   land, so its stored bytes are sent again (same signature) and confirmation goes on;
2. only then a new transaction is built with a fresh blockhash and signed (keys decrypted only
   inside `wallet_signers` blocks), and its Execution row — signature, blockhash,
   `last_valid_block_height`, signed bytes — is **committed before the first send**;
3. send (legacy `sendTransaction` through the RPC pool), then confirm by polling until landed
   or expired.

So a job has at most one transaction that can ever land: a new one is signed only once every
earlier one is known to have landed (then no new one is signed) or to be expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from solana.rpc.commitment import Confirmed
from solders.commitment_config import CommitmentLevel
from solders.hash import Hash
from solders.instruction import Instruction
from solders.rpc.config import RpcSendTransactionConfig
from solders.rpc.requests import SendRawTransaction
from solders.rpc.responses import SendTransactionResp
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus

from apps.chain.errors import (
    BundleRejected,
    ChainError,
    DexError,
    PermanentRpcError,
    TransactionRejected,
    TransientRpcError,
    VenueMigrated,
)
from apps.chain.jito import JitoRotation, tip_instruction
from apps.chain.rpc import RpcPool, run_sync, single
from apps.chain.subscriptions import await_signatures, pubsub_url
from apps.chain.tx import (
    BuiltTransaction,
    FeePolicy,
    Unsigned,
    build_transactions,
)
from apps.core.chain import rpc_pool
from apps.execution.balances import (
    LANDED_FIELDS,
    error_detail,
    record_landed,
    transaction_balances,
)
from apps.execution.jobs import JobCancelled, JobFailed, NotYet
from apps.execution.models import Execution, Job
from apps.wallets.keystore import WalletSigner, wallet_signers
from apps.wallets.models import Wallet

LANDED_LEVELS = (TransactionConfirmationStatus.Confirmed, TransactionConfirmationStatus.Finalized)
IN_FLIGHT = (Execution.Status.SIGNED, Execution.Status.SENT)


@dataclass(frozen=True)
class TxSpec:
    """What a job wants to send. `instructions` is called for every new attempt, so quotes
    and amounts come from the state at that moment."""

    payer: Wallet
    signers: Sequence[Wallet]
    wallet: Wallet  # the wallet the execution is about (the trader, or the funding wallet)
    side: str
    instructions: Callable[[RpcPool], Awaitable[list[Instruction]]]
    fee_policy: FeePolicy
    compute_unit_limit: int | None = None
    # Amounts known before sending (a buy's planned lamports), kept on the row.
    planned: dict = field(default_factory=dict)
    # Jito mode: the block engine to send a bundle to, and the tip the payer pays inside the
    # (last) transaction. None: legacy sendTransaction.
    jito: JitoRotation | None = None
    tip_lamports: int = 0


def _signature_status(rpc: RpcPool, signature: Signature):
    resp = run_sync(
        rpc.call(
            "getSignatureStatuses",
            lambda c: c.get_signature_statuses([signature], search_transaction_history=True),
        )
    )
    return resp.value[0]


def _block_height(rpc: RpcPool) -> int:
    return run_sync(rpc.call("getBlockHeight", lambda c: c.get_block_height(Confirmed))).value


def _resend(rpc: RpcPool, raw: bytes, *, jito: JitoRotation | None) -> None:
    # Already processed, or the blockhash is gone (an error answered for it, or raised): the
    # status check that follows decides.
    with contextlib.suppress(PermanentRpcError):
        if jito is not None:
            run_sync(jito.send_bundle([VersionedTransaction.from_bytes(raw)]))
        else:
            run_sync(send_many(rpc=rpc, requests=[send_request(raw, preflight=False)]))


def _finish(*, execution: Execution, rpc: RpcPool, started: float | None = None) -> Execution:
    """Record a transaction known to have landed (status confirmed): slot, fee, err."""
    signature = Signature.from_string(execution.signature)
    balances = run_sync(transaction_balances(rpc=rpc, signature=signature))
    if balances is None:
        raise NotYet("the landed transaction is not served by getTransaction yet", countdown_s=0.5)
    record_landed(execution, balances, started=started)
    execution.save(update_fields=LANDED_FIELDS)
    return execution


def _resolve_previous(
    *, job: Job, rpc: RpcPool, jito: JitoRotation | None, attempts: list[Execution] | None
) -> tuple[Execution | None, int]:
    """Step 2: the execution of this job that landed, if any, and the number of the job's
    next attempt. Raises NotYet while one may still land; marks the ones that can no longer
    land as expired."""
    # One read of the job's attempts (a new job has none: no RPC, no further query).
    if attempts is None:
        attempts = list(job.executions.order_by("attempt"))
    next_attempt = (attempts[-1].attempt if attempts else 0) + 1
    landed = next((e for e in reversed(attempts) if e.slot is not None), None)
    if landed is not None:
        # Landed before a crash: read its balances again (the ledger write is idempotent).
        return _finish(execution=landed, rpc=rpc), next_attempt
    for execution in (e for e in attempts if e.status in IN_FLIGHT):
        signature = Signature.from_string(execution.signature)
        status = _signature_status(rpc, signature)
        if status is None:
            if _block_height(rpc) > execution.last_valid_block_height:
                # Checked again after the height: a transaction landing in between is not lost.
                status = _signature_status(rpc, signature)
                if status is None:
                    Execution.objects.filter(pk=execution.pk, status__in=IN_FLIGHT).update(
                        status=Execution.Status.EXPIRED
                    )
                    continue
            else:
                # It may never have been sent (a crash after the commit): the same bytes again.
                if execution.raw_transaction:
                    _resend(rpc, bytes(execution.raw_transaction), jito=jito)
                landed = run_sync(
                    await_landings(
                        rpc=rpc,
                        signatures=[signature],
                        last_valid_block_height=execution.last_valid_block_height,
                    )
                )
                if not landed:
                    Execution.objects.filter(pk=execution.pk, status__in=IN_FLIGHT).update(
                        status=Execution.Status.EXPIRED
                    )
                    continue
                return _finish(execution=execution, rpc=rpc), next_attempt
        if status.confirmation_status not in LANDED_LEVELS:
            raise NotYet("an earlier transaction is processed but not confirmed", countdown_s=0.4)
        return _finish(execution=execution, rpc=rpc), next_attempt
    return None, next_attempt


async def await_landings(
    *, rpc: RpcPool, signatures: Sequence[Signature], last_valid_block_height: int,
    poll_s: float = 0.05, give_up_s: float | None = None,
) -> set[Signature]:  # fmt: skip
    """Wait until each transaction is confirmed or the block height passed their
    `last_valid_block_height` without it (or `give_up_s` passed: the others are left
    undecided); returns the confirmed ones. With EXECUTION_CONFIRM_BY_SUBSCRIPTION and an
    endpoint served over HTTP, the statuses read once, then `signatureSubscribe` on its PubSub
    websocket for those not confirmed yet (statuses polled once after subscribing, then every
    EXECUTION_CONFIRM_FALLBACK_POLL_S); otherwise,
    or when the websocket fails, by polling every `poll_s` (one `getSignatureStatuses` for
    all). Like `apps.chain.tx.confirm_transaction`, but without its getTransaction:
    `_finish` reads each transaction once, with its balances."""
    http_url = rpc.http_url if settings.EXECUTION_CONFIRM_BY_SUBSCRIPTION else None
    return await await_signatures(
        rpc=rpc, ws_url=pubsub_url(http_url) if http_url else None,
        signatures=list(signatures), last_valid_block_height=last_valid_block_height,
        fallback_poll_s=settings.EXECUTION_CONFIRM_FALLBACK_POLL_S, poll_s=poll_s,
        give_up_s=give_up_s,
    )  # fmt: skip


async def build_many(
    *, rpc: RpcPool, items: Sequence[tuple[TxSpec, WalletSigner, Sequence[WalletSigner]]],
    recent: tuple[Hash, int] | None = None,
) -> list[BuiltTransaction | BaseException]:  # fmt: skip
    """Build (spec, payer, other signers) items and sign them with their open `wallet_signer`s,
    their simulations in one JSON-RPC batch (`recent`: a blockhash shared by them all). An
    item that cannot be built gets its error in its place."""

    async def unsigned(spec: TxSpec, payer: WalletSigner, others: Sequence[WalletSigner]):
        instructions = await spec.instructions(rpc)
        if spec.jito is not None and spec.tip_lamports:
            tip = tip_instruction(
                payer=payer.pubkey(), tip_account=await spec.jito.pick_tip_account(),
                lamports=spec.tip_lamports,
            )  # fmt: skip
            instructions = [*instructions, tip]
        return Unsigned(
            payer=payer.keypair, instructions=instructions,
            signers=[signer.keypair for signer in others], fee_policy=spec.fee_policy,
            compute_unit_limit=spec.compute_unit_limit,
        )  # fmt: skip

    prepared = await asyncio.gather(*(unsigned(*item) for item in items), return_exceptions=True)
    ready = [item for item in prepared if isinstance(item, Unsigned)]
    built = iter(await build_transactions(rpc=rpc, items=ready, recent=recent) if ready else [])
    return [next(built) if isinstance(item, Unsigned) else item for item in prepared]


def build_signed(*, spec: TxSpec, rpc: RpcPool) -> BuiltTransaction:
    """Build and sign `spec` (simulating it unless it names its compute-unit limit)."""
    # Keys are decrypted only inside this block and dropped when it closes.
    cosigners = [wallet for wallet in spec.signers if wallet.pk != spec.payer.pk]
    with wallet_signers([spec.payer, *cosigners]) as signers:
        others = [signers[wallet.pk] for wallet in cosigners]
        return single(run_sync(build_many(rpc=rpc, items=[(spec, signers[spec.payer.pk], others)])))


def build_failed(error: TransactionRejected | DexError | PermanentRpcError) -> JobFailed:
    """Why a transaction could not be built: its simulation fails, or the venue refuses."""
    if isinstance(error, TransactionRejected):
        return JobFailed(
            "The transaction would fail: " + error_detail(error.err or error),
            code="simulation_failed",
            detail={"logs": error.logs[-8:]},
        )
    if isinstance(error, VenueMigrated):
        # The engine moves the campaign to the token's new pool (or pauses it).
        return JobFailed(f"The trade cannot be made: {error}", code="venue_migrated")
    return JobFailed(f"The trade cannot be made: {error}", code="venue")


def new_execution(*, job: Job, spec: TxSpec, built: BuiltTransaction, attempt: int) -> Execution:
    """The (unsaved) row of a signed transaction: committed before it is first sent."""
    return Execution(
        job=job,
        run_id=job.run_id,
        campaign_id=job.run.campaign_id,
        attempt=attempt,
        signature=str(built.signature),
        blockhash=str(built.blockhash),
        last_valid_block_height=built.last_valid_block_height,
        raw_transaction=built.raw,
        status=Execution.Status.SIGNED,
        side=spec.side,
        wallet=spec.wallet,
        tip_lamports=spec.tip_lamports if spec.jito is not None else 0,
        sol_in_lamports=spec.planned.get("sol_in_lamports", 0),
        token_in_raw=spec.planned.get("token_in_raw", 0),
    )


def wants_preflight(spec: TxSpec) -> bool:
    # Simulated at build time when the compute-unit limit came from a simulation; otherwise
    # the node's preflight keeps a failing transaction from landing (and costing a fee).
    return spec.compute_unit_limit is not None


def send_request(raw: bytes, *, preflight: bool) -> SendRawTransaction:
    """`sendTransaction` of signed bytes; the node does not retry it (`send_once` resends)."""
    config = RpcSendTransactionConfig(
        skip_preflight=not preflight, preflight_commitment=CommitmentLevel.Confirmed,
        max_retries=0,
    )  # fmt: skip
    return SendRawTransaction(raw, config)


async def send_many(
    *, rpc: RpcPool, requests: Sequence[SendRawTransaction]
) -> list[SendTransactionResp | ChainError]:
    """Send signed transactions in one JSON-RPC batch; a refused one gets its error in its
    place (`TransactionRejected` when the node's preflight failed)."""
    return await rpc.call_batch("sendTransaction", requests, SendTransactionResp)


def rejected(execution: Execution, error: TransactionRejected) -> JobFailed:
    """The node refused the transaction (nothing landed): its row is `failed`."""
    Execution.objects.filter(pk=execution.pk).update(
        status=Execution.Status.FAILED, error={"err": error_detail(error.err or error)}
    )
    return JobFailed(
        "The node rejected the transaction: " + error_detail(error.err or error),
        code="rejected",
    )


def send_once(
    *, job: Job, network: str, spec: TxSpec, allow_new: bool = True,
    attempts: list[Execution] | None = None,
) -> Execution:  # fmt: skip
    """The job's one landed transaction (status `landed`, or `failed` when it landed with an
    error), sending a new one only when no earlier one can still land. Must not run inside a
    transaction: the Execution row has to be committed before the send. `attempts`: the job's
    executions by attempt, when the caller (holding the job's lock) has just read them.

    Raises NotYet (an earlier transaction may still land, or this one expired: try again),
    JobFailed (the chain refuses the transaction; nothing landed), TransientRpcError."""
    assert not transaction.get_connection().in_atomic_block, "send_once commits its own rows"
    rpc = rpc_pool(network)
    previous, attempt = _resolve_previous(job=job, rpc=rpc, jito=spec.jito, attempts=attempts)
    if previous is not None:
        return previous
    if not allow_new:
        raise JobCancelled("no earlier transaction landed and no new one may be sent")
    try:
        built = build_signed(spec=spec, rpc=rpc)
    except (TransactionRejected, DexError, PermanentRpcError) as error:
        raise build_failed(error) from None
    # Committed (autocommit) before the send: a crash from here on is resolved by signature.
    execution = new_execution(job=job, spec=spec, built=built, attempt=attempt)
    execution.save(force_insert=True)
    started = time.monotonic()
    try:
        if spec.jito is not None:
            bundle_id = run_sync(spec.jito.send_bundle([built.transaction]))
            Execution.objects.filter(pk=execution.pk).update(bundle_id=bundle_id)
        else:
            request = send_request(built.raw, preflight=wants_preflight(spec))
            single(run_sync(send_many(rpc=rpc, requests=[request])))
    except BundleRejected as error:
        Execution.objects.filter(pk=execution.pk).update(
            status=Execution.Status.FAILED, error={"err": error_detail(error)}
        )
        raise JobFailed(f"The block engine refused the bundle: {error}", code="bundle") from None
    except TransactionRejected as error:
        raise rejected(execution, error) from None
    except TransientRpcError:
        raise  # it may have reached the node: the next attempt resolves it by signature
    Execution.objects.filter(pk=execution.pk, status=Execution.Status.SIGNED).update(
        status=Execution.Status.SENT
    )
    execution.status = Execution.Status.SENT
    # Signed and sent by this call, under the job's lock: no ledger row can exist for it yet.
    execution.fresh = True
    landed = run_sync(
        await_landings(
            rpc=rpc,
            signatures=[built.signature],
            last_valid_block_height=built.last_valid_block_height,
        )
    )
    if not landed:
        Execution.objects.filter(pk=execution.pk, status__in=IN_FLIGHT).update(
            status=Execution.Status.EXPIRED
        )
        raise NotYet("the transaction expired without landing; a new one follows", countdown_s=0)
    return _finish(execution=execution, rpc=rpc, started=started)
