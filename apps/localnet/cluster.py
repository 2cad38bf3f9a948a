"""The local cluster: LiteSVM plus a slot clock, blockhash window, signature statuses and bundles.

Every write (send, bundle, airdrop, set_account) goes through one lock: the DEX emulation
writes accounts just before executing and restores them on failure, which is only safe
with a single writer.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.account_decoder import UiTokenAmount
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    UiTransactionTokenBalance,
)

from apps.chain.constants import (
    JITO_TIP_ACCOUNTS,
    LAMPORTS_PER_SIGNATURE,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.spl import TOKEN_ACCOUNT_LEN, decode_mint, decode_token_account
from apps.localnet import dex_emulation, programs

DEFAULT_SLOT_MS = 400
BLOCKHASH_VALID_SLOTS = 150
MAX_BUNDLE_TRANSACTIONS = 5
MIN_BUNDLE_TIP_LAMPORTS = 1_000
_MAX_RECORDS = 200_000
FINALIZED_AFTER_SLOTS = 32
_STATE_VERSION = 1
_SIGNATURES_PER_ADDRESS = 1_000
_SLOT_TIMES_KEPT = 20_000
_EVENTS_KEPT = 20_000


class LocalnetError(Exception):
    """A request the localnet refuses before executing anything (bad encoding, ALTs …)."""


class TransactionFailed(Exception):
    """Preflight/simulation says the transaction fails; carries what a node would report."""

    def __init__(self, message: str, *, err: Any, logs: list[str], units: int = 0):
        super().__init__(message)
        self.err = err
        self.logs = logs
        self.units = units


class BundleInvalid(Exception):
    """The block engine refuses the bundle outright."""


@dataclass
class TxRecord:
    """What the localnet knows about a landed transaction (served by getTransaction)."""

    signature: Signature
    transaction: VersionedTransaction | None
    slot: int
    block_time: int
    err: Any
    fee: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[UiTransactionTokenBalance]
    post_token_balances: list[UiTransactionTokenBalance]
    logs: list[str]
    compute_units: int


@dataclass(frozen=True)
class ChangeEvent:
    """Something that changed the ledger (what PubSub subscriptions are told about).

    `record` is set for a landed transaction (its writable accounts are `accounts`); an
    airdrop or a direct account write has only `accounts`."""

    seq: int
    slot: int
    accounts: frozenset[Pubkey]
    record: TxRecord | None = None


@dataclass
class Simulation:
    err: Any
    logs: list[str]
    units: int
    fee: int


@dataclass
class BundleRecord:
    bundle_id: str
    signatures: list[Signature]
    slot: int
    landed: bool
    error: str | None = None


@dataclass
class _Executed:
    ok: bool
    err: Any
    logs: list[str]
    units: int
    fee: int
    record: TxRecord | None = None


def _empty_account() -> Account:
    return Account(0, b"", SYSTEM_PROGRAM_ID)


def bundle_id_of(signatures: Sequence[Signature]) -> str:
    """Jito's bundle id: sha256 over the transactions' signatures, hex."""
    return hashlib.sha256(b"".join(bytes(s) for s in signatures)).hexdigest()


def instruction_error_message(err: Any) -> str:
    """The text a node puts after 'Transaction simulation failed: '."""
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, InstructionErrorCustom):
            return (
                f"Error processing Instruction {err.index}: custom program error: 0x{inner.code:x}"
            )
        return f"Error processing Instruction {err.index}: {inner}"
    if err == TransactionErrorFieldless.BlockhashNotFound:
        return "Blockhash not found"
    if err == TransactionErrorFieldless.AlreadyProcessed:
        return "This transaction has already been processed"
    return str(err)


class Cluster:
    """One local Solana cluster. Thread-safe; share it between RPC endpoints for failover tests.

    `slot_ms=0` stops the clock: slots then move only with `advance_slots`.
    `confirm_after_slots=N` models a mainnet node: a transaction is processed when it is sent
    (the send answers at once) and reaches `confirmed` only N slots later; statuses,
    `getTransaction` and signature notifications follow it. 0 (the default): confirmed at once.
    """

    def __init__(
        self,
        *,
        slot_ms: int = DEFAULT_SLOT_MS,
        blockhash_valid_slots: int = BLOCKHASH_VALID_SLOTS,
        start_slot: int = 1,
        tip_accounts: Sequence[Pubkey] = JITO_TIP_ACCOUNTS,
        clock: Callable[[], float] = time.monotonic,
        confirm_after_slots: int = 0,
    ):
        if confirm_after_slots < 0:
            raise ValueError("confirm_after_slots must be 0 or more")
        self.confirm_after_slots = confirm_after_slots
        self._lock = threading.RLock()
        self._svm = (
            LiteSVM().with_sigverify(False).with_blockhash_check(False).with_transaction_history(0)
        )
        programs.load_into(self._svm)
        self._clock = clock
        self.slot_ms = slot_ms
        self.blockhash_valid_slots = blockhash_valid_slots
        self.tip_accounts: tuple[Pubkey, ...] = tuple(tip_accounts)
        self._genesis = os.urandom(16)
        self._base_slot = start_slot
        self._t0 = clock()
        self._manual_slots = 0
        self._slot = -1
        self._time_offset = 0
        self._unix_time = -1
        self._blockhashes: dict[Hash, int] = {}
        self._records: OrderedDict[Signature, TxRecord] = OrderedDict()
        self._bundles: dict[str, BundleRecord] = {}
        self._priority_fees: deque[tuple[int, int, frozenset[Pubkey]]] = deque(maxlen=10_000)
        self._known: set[Pubkey] = set()
        self.first_slot = start_slot
        self._slot_times: OrderedDict[int, int] = OrderedDict()
        self._slot_signatures: dict[int, list[Signature]] = {}
        self._address_signatures: dict[Pubkey, deque[Signature]] = {}
        self._events: deque[ChangeEvent] = deque(maxlen=_EVENTS_KEPT)
        self._event_seq = 0
        self.transaction_count = 0
        self._sync_clock()
        self._install_base_accounts()

    @property
    def genesis_hash(self) -> Hash:
        return Hash(hashlib.sha256(b"genesis" + self._genesis).digest())

    # -- clock -------------------------------------------------------------------------------

    def _sync_clock(self) -> int:
        elapsed = 0 if self.slot_ms <= 0 else int((self._clock() - self._t0) * 1000 // self.slot_ms)
        slot = self._base_slot + elapsed + self._manual_slots
        now = int(time.time()) + self._time_offset
        if slot != self._slot:
            # Every slot is a block here; slots the clock passed between two reads get the
            # time of the read that saw them (a node's block times are per second anyway).
            for passed in range(max(self._slot + 1, slot - _SLOT_TIMES_KEPT + 1), slot + 1):
                self._slot_times[passed] = now
            while len(self._slot_times) > _SLOT_TIMES_KEPT:
                self._slot_times.popitem(last=False)
            self._slot = slot
            self._svm.warp_to_slot(slot)
        # The Clock sysvar's unix_timestamp follows the wall clock, as on a real cluster
        # (programs compare it with e.g. a pool's open time); LiteSVM alone keeps it at 0.
        if now != self._unix_time:
            self._unix_time = now
            clock = self._svm.get_clock()
            self._svm.set_clock(
                Clock(clock.slot, clock.epoch_start_timestamp, clock.epoch,
                      clock.leader_schedule_epoch, now)
            )  # fmt: skip
        return slot

    @property
    def slot(self) -> int:
        with self._lock:
            return self._sync_clock()

    @property
    def block_height(self) -> int:
        # No skipped slots here: every slot is a block.
        return self.slot

    def advance_slots(self, n: int) -> int:
        """Move the clock forward by `n` slots now (tests; expiry without waiting)."""
        with self._lock:
            self._manual_slots += n
            return self._sync_clock()

    def advance_time(self, seconds: int) -> int:
        """Move the cluster's unix time forward by `seconds` now (e.g. past a pool's open
        time without waiting); returns the new unix timestamp."""
        with self._lock:
            self._time_offset += seconds
            self._sync_clock()
            return self._unix_time

    def _blockhash_for(self, slot: int) -> Hash:
        return Hash(hashlib.sha256(self._genesis + slot.to_bytes(8, "little")).digest())

    def latest_blockhash(self, *, depth: int = 0) -> tuple[Hash, int]:
        """(blockhash of the current slot, or of `depth` slots back, e.g. the finalized one;
        last block height at which it is still valid)."""
        with self._lock:
            slot = max(self.first_slot, self._sync_clock() - depth)
            blockhash = self._blockhash_for(slot)
            if blockhash not in self._blockhashes:
                self._blockhashes[blockhash] = slot
                if len(self._blockhashes) > 4 * self.blockhash_valid_slots + 64:
                    oldest = slot - self.blockhash_valid_slots
                    self._blockhashes = {h: s for h, s in self._blockhashes.items() if s >= oldest}
            return blockhash, slot + self.blockhash_valid_slots

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        with self._lock:
            issued = self._blockhashes.get(blockhash)
            return issued is not None and self._sync_clock() <= issued + self.blockhash_valid_slots

    # -- accounts ----------------------------------------------------------------------------

    def _install_base_accounts(self) -> None:
        rent_exempt = self._svm.minimum_balance_for_rent_exemption(0)
        for tip in self.tip_accounts:
            self._set(tip, Account(rent_exempt, b"", SYSTEM_PROGRAM_ID))
        # LiteSVM has no wrapped-SOL mint; without it WSOL accounts cannot be created.
        wsol = Mint(mint_authority=None, supply=0, decimals=9, is_initialized=True)
        self._set(
            WSOL_MINT,
            Account(
                self._svm.minimum_balance_for_rent_exemption(82), bytes(wsol), TOKEN_PROGRAM_ID
            ),
        )

    def _set(self, address: Pubkey, account: Account) -> None:
        self._svm.set_account(address, account)
        self._known.add(address)

    def set_account(self, address: Pubkey, account: Account) -> None:
        with self._lock:
            self._set(address, account)
            self._emit(frozenset({address}))

    def get_account(self, address: Pubkey) -> Account | None:
        """The account, or None when it does not exist (zero lamports counts as absent)."""
        with self._lock:
            acc = self._svm.get_account(address)
        return acc if acc is not None and acc.lamports > 0 else None

    def get_balance(self, address: Pubkey) -> int:
        acc = self.get_account(address)
        return acc.lamports if acc else 0

    def minimum_balance_for_rent_exemption(self, size: int) -> int:
        return self._svm.minimum_balance_for_rent_exemption(size)

    def airdrop(self, address: Pubkey, lamports: int) -> Signature:
        with self._lock:
            result = self._svm.airdrop(address, lamports)
            if isinstance(result, FailedTransactionMetadata):
                raise LocalnetError(f"airdrop failed: {result.err()}")
            self._known.add(address)
            signature = result.signature()
            self._remember(
                TxRecord(
                    signature,
                    None,
                    self._sync_clock(),
                    int(time.time()),
                    None,
                    0,
                    [],
                    [],
                    [],
                    [],
                    [],
                    0,
                )
            )
            self._emit(frozenset({address}))
            return signature

    def program_accounts(self, program: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return [(k, a) for k, a in self._svm.get_program_accounts(program) if a.lamports > 0]

    def token_accounts_of(self, owner: Pubkey, *, mint: Pubkey | None, program: Pubkey | None):
        programs = [program] if program else [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID]
        found = []
        for prog in programs:
            for address, acc in self.program_accounts(prog):
                data = bytes(acc.data)
                if len(data) < TOKEN_ACCOUNT_LEN or data[32:64] != bytes(owner):
                    continue
                if mint is not None and data[:32] != bytes(mint):
                    continue
                found.append((address, acc))
        return found

    def token_amount(self, address: Pubkey) -> UiTokenAmount | None:
        acc = self.get_account(address)
        if acc is None or acc.owner not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            return None
        if len(acc.data) < TOKEN_ACCOUNT_LEN:
            return None
        state = decode_token_account(bytes(acc.data))
        mint = self.get_account(state.mint)
        decimals = decode_mint(bytes(mint.data)).decimals if mint else 0
        return ui_token_amount(state.amount, decimals)

    # -- fees --------------------------------------------------------------------------------

    def fee_for_message(self, message) -> int:
        """5000 lamports per signature plus price x limit (limit defaulted like the runtime)."""
        instructions = dex_emulation.decompile(message)
        limit, price = dex_emulation.compute_budget(instructions)
        if limit is None:
            limit = dex_emulation.default_compute_unit_limit(instructions)
        priority = (price * limit + 999_999) // 1_000_000
        return LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures + priority

    def recent_prioritization_fees(self, accounts: Sequence[Pubkey]) -> list[tuple[int, int]]:
        """Per recent slot, the lowest compute-unit price among landed transactions that
        write-locked any of `accounts` (all transactions when none are given)."""
        wanted = set(accounts)
        with self._lock:
            floor = self._sync_clock() - BLOCKHASH_VALID_SLOTS
            per_slot: dict[int, int] = {}
            for slot, price, writable in self._priority_fees:
                if slot < floor or (wanted and not wanted & writable):
                    continue
                per_slot[slot] = min(price, per_slot.get(slot, price))
        return sorted(per_slot.items())

    # -- transactions ------------------------------------------------------------------------

    def status(self, signature: Signature) -> TxRecord | None:
        with self._lock:
            return self._records.get(signature)

    def is_confirmed(self, record: TxRecord) -> bool:
        """Whether `record` reached `confirmed` (see `confirm_after_slots`)."""
        return self.slot - record.slot >= self.confirm_after_slots

    def confirmations(self, record: TxRecord) -> int | None:
        """None once finalized (as a node reports it)."""
        depth = self.slot - record.slot
        return None if depth >= FINALIZED_AFTER_SLOTS else depth

    def _remember(self, record: TxRecord) -> None:
        self._records[record.signature] = record
        while len(self._records) > _MAX_RECORDS:
            old = self._records.popitem(last=False)[1]
            self._slot_signatures.pop(old.slot, None)
        if record.transaction is None:
            return
        self._slot_signatures.setdefault(record.slot, []).append(record.signature)
        for key in record.transaction.message.account_keys:
            history = self._address_signatures.get(key)
            if history is None:
                history = self._address_signatures[key] = deque(maxlen=_SIGNATURES_PER_ADDRESS)
            history.append(record.signature)

    def _emit(self, accounts: frozenset[Pubkey], record: TxRecord | None = None) -> None:
        self._event_seq += 1
        self._events.append(ChangeEvent(self._event_seq, self._slot, accounts, record))

    def events_since(self, seq: int) -> list[ChangeEvent]:
        """Ledger changes after `seq` (oldest first; at most the last 20,000 are kept)."""
        with self._lock:
            if not self._events or self._events[-1].seq <= seq:
                return []
            # Sequence numbers are consecutive: skip straight to the first one wanted.
            skip = max(0, seq - self._events[0].seq + 1)
            return list(itertools.islice(self._events, skip, None))

    @property
    def event_seq(self) -> int:
        with self._lock:
            return self._event_seq

    def signatures_for(self, address: Pubkey) -> list[TxRecord]:
        """The landed transactions naming `address`, newest first (the last 1,000)."""
        with self._lock:
            history = self._address_signatures.get(address, ())
            return [r for s in reversed(history) if (r := self._records.get(s)) is not None]

    def block(self, slot: int) -> list[TxRecord]:
        """The transactions that landed in `slot`, in order."""
        with self._lock:
            found = (self._records.get(s) for s in self._slot_signatures.get(slot, ()))
            return [r for r in found if r is not None]

    def block_time(self, slot: int) -> int | None:
        """The unix time of `slot` (None when the cluster no longer knows it)."""
        with self._lock:
            self._sync_clock()
            landed = self.block(slot)
            return landed[0].block_time if landed else self._slot_times.get(slot)

    def blockhash_of(self, slot: int) -> Hash:
        return self._blockhash_for(slot)

    def _check(
        self, tx: VersionedTransaction, *, sig_verify: bool = True, check_blockhash: bool = True
    ) -> None:
        try:
            tx.sanitize()
        except Exception as exc:  # solders raises a generic error type for sanitize failures
            raise LocalnetError(f"invalid transaction: {exc}") from exc
        if isinstance(tx.message, MessageV0) and tx.message.address_table_lookups:
            raise LocalnetError("address lookup tables are not supported by the localnet")
        if sig_verify and not all(tx.verify_with_results()):
            raise LocalnetError("Transaction signature verification failure")
        if tx.signatures[0] in self._records:
            raise TransactionFailed(
                "already processed", err=TransactionErrorFieldless.AlreadyProcessed, logs=[]
            )
        if check_blockhash and not self.is_blockhash_valid(tx.message.recent_blockhash):
            raise TransactionFailed(
                "blockhash not found", err=TransactionErrorFieldless.BlockhashNotFound, logs=[]
            )

    def _execute(self, tx: VersionedTransaction, *, commit: bool) -> _Executed:
        """Run one transaction (rewritten if it names an emulated DEX). Lock held by caller."""
        message = tx.message
        plan = dex_emulation.rewrite(self, message)
        keys = list(message.account_keys)
        pre = [self._svm.get_account(k) for k in keys] if commit else []
        restore: dict[Pubkey, Account | None] = {}
        if plan is None:
            to_run = tx
        else:
            compiled = MessageV0.try_compile(
                keys[0], plan.instructions, [], message.recent_blockhash
            )
            to_run = VersionedTransaction.populate(compiled, tx.signatures)
            for address, account in plan.writes.items():
                restore[address] = self._svm.get_account(address)
                self._set(address, account)
        result = (
            self._svm.send_transaction(to_run) if commit else self._svm.simulate_transaction(to_run)
        )
        failed = isinstance(result, FailedTransactionMetadata)
        meta = result.meta() if failed or not commit else result
        err = self._map_error(result.err(), plan) if failed else None
        logs = list(meta.logs())
        if failed and plan is not None and plan.forced is not None:
            logs = _venue_failure_logs(logs, plan.forced)
        if failed or not commit:
            self._restore(restore)
        executed = _Executed(
            ok=not failed, err=err, logs=logs, units=meta.compute_units_consumed(), fee=meta.fee()
        )
        if commit:
            self._known.update(keys)
            post = [self._svm.get_account(k) for k in keys]
            executed.record = TxRecord(
                signature=tx.signatures[0],
                transaction=tx,
                slot=self._sync_clock(),
                block_time=int(time.time()),
                err=err,
                fee=executed.fee,
                pre_balances=[a.lamports if a else 0 for a in pre],
                post_balances=[a.lamports if a else 0 for a in post],
                pre_token_balances=self._token_balances(pre),
                post_token_balances=self._token_balances(post),
                logs=logs,
                compute_units=executed.units,
            )
        return executed

    def _restore(self, saved: dict[Pubkey, Account | None]) -> None:
        for address, account in saved.items():
            self._svm.set_account(address, account if account is not None else _empty_account())

    @staticmethod
    def _map_error(err: Any, plan: dex_emulation.Rewrite | None) -> Any:
        if plan is None or not isinstance(err, TransactionErrorInstructionError):
            return err
        index, inner = err.index, err.err
        if plan.forced is not None and index == plan.forced[0]:
            inner = InstructionErrorCustom(plan.forced[1])
        elif isinstance(inner, InstructionErrorCustom) and inner.code in plan.translations.get(
            index, {}
        ):
            inner = InstructionErrorCustom(plan.translations[index][inner.code])
        return TransactionErrorInstructionError(plan.index_map[index], inner)

    def _token_balances(self, accounts: list[Account | None]) -> list[UiTransactionTokenBalance]:
        balances = []
        for index, acc in enumerate(accounts):
            if (
                acc is None
                or acc.lamports == 0
                or acc.owner not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
            ):
                continue
            if len(acc.data) < TOKEN_ACCOUNT_LEN:
                continue
            state = decode_token_account(bytes(acc.data))
            mint = self._svm.get_account(state.mint)
            decimals = decode_mint(bytes(mint.data)).decimals if mint else 0
            balances.append(
                UiTransactionTokenBalance(
                    index,
                    state.mint,
                    ui_token_amount(state.amount, decimals),
                    state.owner,
                    acc.owner,
                )
            )
        return balances

    def _land(self, executed: _Executed, tx: VersionedTransaction) -> None:
        assert executed.record is not None
        self._remember(executed.record)
        writable = dex_emulation.writable_flags(tx.message)
        locked = frozenset(k for k, w in zip(tx.message.account_keys, writable, strict=True) if w)
        self._emit(locked, executed.record)
        _, price = dex_emulation.compute_budget(dex_emulation.decompile(tx.message))
        self._priority_fees.append((executed.record.slot, price, locked))
        self.transaction_count += 1

    def send(self, tx: VersionedTransaction, *, preflight: bool = True) -> Signature:
        """Execute `tx` now. With preflight a failing transaction raises `TransactionFailed`
        and changes nothing; without, an invalid one is dropped (it never lands) and a
        failing one lands failed, fee charged."""
        signature = tx.signatures[0]
        with self._lock:
            self._sync_clock()
            if preflight:
                self._check(tx)
                simulated = self._execute(tx, commit=False)
                if not simulated.ok:
                    raise TransactionFailed(
                        instruction_error_message(simulated.err),
                        err=simulated.err,
                        logs=simulated.logs,
                        units=simulated.units,
                    )
            else:
                try:
                    self._check(tx)
                except TransactionFailed:
                    return signature
            self._land(self._execute(tx, commit=True), tx)
        return signature

    def simulate(
        self, tx: VersionedTransaction, *, sig_verify: bool = False, replace_blockhash: bool = False
    ) -> Simulation:
        with self._lock:
            self._sync_clock()
            try:
                self._check(tx, sig_verify=sig_verify, check_blockhash=not replace_blockhash)
            except TransactionFailed as failed:
                return Simulation(err=failed.err, logs=[], units=0, fee=0)
            executed = self._execute(tx, commit=False)
        return Simulation(
            err=executed.err, logs=executed.logs, units=executed.units, fee=executed.fee
        )

    # -- bundles -----------------------------------------------------------------------------

    def _has_tip(self, txs: Sequence[VersionedTransaction]) -> bool:
        tips = set(self.tip_accounts)
        for tx in txs:
            for ix in dex_emulation.decompile(tx.message):
                data = bytes(ix.data)
                if (
                    ix.program_id != SYSTEM_PROGRAM_ID
                    or len(data) < 12
                    or data[:4] != b"\x02\x00\x00\x00"
                ):
                    continue
                lamports = int.from_bytes(data[4:12], "little")
                if ix.accounts[1].pubkey in tips and lamports >= MIN_BUNDLE_TIP_LAMPORTS:
                    return True
        return False

    def send_bundle(self, txs: Sequence[VersionedTransaction]) -> str:
        """Run 1-5 transactions in order, all or nothing (fees included).

        Structural problems raise `BundleInvalid`; a transaction that fails makes the bundle
        fail: nothing it did stays, and its status says so.
        """
        if not 1 <= len(txs) <= MAX_BUNDLE_TRANSACTIONS:
            raise BundleInvalid(
                f"bundle must contain 1 to {MAX_BUNDLE_TRANSACTIONS} transactions, got {len(txs)}"
            )
        signatures = [tx.signatures[0] for tx in txs]
        if len(set(signatures)) != len(signatures):
            raise BundleInvalid("bundle contains duplicate transactions")
        for tx in txs:
            try:
                tx.sanitize()
            except Exception as exc:  # solders raises a generic error type for sanitize failures
                raise BundleInvalid(f"invalid transaction in bundle: {exc}") from exc
            if not all(tx.verify_with_results()):
                raise BundleInvalid("bundle transaction signature verification failure")
        if not self._has_tip(txs):
            raise BundleInvalid(
                "bundle must pay a tip to a tip account of at least "
                f"{MIN_BUNDLE_TIP_LAMPORTS} lamports"
            )
        bundle_id = bundle_id_of(signatures)
        with self._lock:
            self._sync_clock()
            touched = {k for tx in txs for k in tx.message.account_keys}
            snapshot = {k: self._svm.get_account(k) for k in touched}
            landed: list[tuple[_Executed, VersionedTransaction]] = []
            error = None
            for position, tx in enumerate(txs):
                try:
                    self._check(tx, sig_verify=False)
                except TransactionFailed as failed:
                    error = (
                        f"transaction {position} rejected: {instruction_error_message(failed.err)}"
                    )
                    break
                executed = self._execute(tx, commit=True)
                landed.append((executed, tx))
                if not executed.ok:
                    error = (
                        f"transaction {position} failed: {instruction_error_message(executed.err)}"
                    )
                    break
            if error is None:
                # One block: the slot clock may have ticked while they ran, but a bundle's
                # transactions land in the same slot, as on mainnet.
                slot = landed[-1][0].record.slot
                for executed, tx in landed:
                    executed.record.slot = slot
                    self._land(executed, tx)
            else:
                # All or nothing: every account the bundle names goes back to its state
                # before the bundle, fees included (the emulator's escrows are closed by then).
                self._restore(snapshot)
            self._bundles[bundle_id] = BundleRecord(
                bundle_id, signatures, self._slot, error is None, error
            )
        return bundle_id

    def bundle(self, bundle_id: str) -> BundleRecord | None:
        with self._lock:
            return self._bundles.get(bundle_id)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write every account the cluster has touched, the slot and the unix time, atomically
        to `path`."""
        with self._lock:
            slot = self._sync_clock()
            unix_time = self._unix_time
            accounts = []
            for address in sorted(self._known, key=bytes):
                acc = self._svm.get_account(address)
                if acc is None or acc.lamports == 0 or acc.executable:
                    continue
                accounts.append(
                    {
                        "address": str(address),
                        "lamports": acc.lamports,
                        "owner": str(acc.owner),
                        "rent_epoch": acc.rent_epoch,
                        "data": base64.b64encode(bytes(acc.data)).decode(),
                    }
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"version": _STATE_VERSION, "slot": slot, "unix_time": unix_time,
                 "accounts": accounts}
            )
        )  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> Cluster:
        """A cluster with the accounts saved in `path`, its clock resuming after the saved slot
        and never before the saved unix time (programs compare it with times they stored, e.g.
        a pool's open time)."""
        state = json.loads(path.read_text())
        if state.get("version") != _STATE_VERSION:
            raise LocalnetError(f"unsupported localnet state version in {path}")
        cluster = cls(start_slot=state["slot"] + 1, **kwargs)
        behind = state.get("unix_time", 0) - int(time.time())
        if behind > 0:
            cluster.advance_time(behind)
        for item in state["accounts"]:
            cluster.set_account(
                Pubkey.from_string(item["address"]),
                Account(
                    item["lamports"],
                    base64.b64decode(item["data"]),
                    Pubkey.from_string(item["owner"]),
                    False,
                    item["rent_epoch"],
                ),
            )
        return cluster


def ui_token_amount(amount: int, decimals: int) -> UiTokenAmount:
    """The node's token amount: raw string is the value; the float is display-only wire format."""
    ui = Decimal(amount).scaleb(-decimals)
    text = format(ui.normalize(), "f") if amount else "0"
    return UiTokenAmount(float(ui), decimals, str(amount), text)


def _venue_failure_logs(logs: list[str], forced: tuple[int, int, Pubkey]) -> list[str]:
    # The failing stand-in is a System transfer; report the venue's frame instead of its logs.
    marker = "Program 11111111111111111111111111111111 invoke [1]"
    cut = max((i for i, line in enumerate(logs) if line == marker), default=len(logs))
    _, code, program = forced
    return [
        *logs[:cut],
        f"Program {program} invoke [1]",
        f"Program {program} failed: custom program error: 0x{code:x}",
    ]
