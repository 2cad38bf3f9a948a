"""DEX programs emulated by rewriting their instructions into real SPL/System transfers.

No pump.fun or PumpSwap binary can run here, so a transaction naming one of them is rewritten
before LiteSVM executes it (see `apps.localnet` for the whole picture):

- The venue's checks (account list, pool/curve state, PDAs, signer, fee recipient) and its
  maths (fee rate, constant product, rounding) are done here, in Python, at the real program
  ids and instruction layouts. A failed check replaces the instruction with one that always
  fails; the localnet then reports the venue's own error code for it.
- The movement of funds runs for real: the trader → pool leg is a real token (or System)
  transfer signed by the trader; the pool → trader token leg is a real `TransferChecked`
  signed by the trader as *delegate* of the pool vault (the delegate is set just before
  execution); SOL leaving a program-owned curve is parked in throw-away token accounts owned
  by the trader and released by a real `CloseAccount`. Same signers, so the same fee, and a
  later failing instruction rolls the swap back with the rest of the transaction.
- Pool state written by the program (curve reserves, `complete`) is written before execution
  and restored by the cluster if the transaction fails.

Only top-level instructions are rewritten (no CPI into the venues).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount

from apps.chain.constants import (
    BUILTIN_PROGRAM_IDS,
    COMPUTE_BUDGET_PROGRAM_ID,
    DEFAULT_BUILTIN_INSTRUCTION_CU,
    DEFAULT_INSTRUCTION_CU,
    MAX_COMPUTE_UNIT_LIMIT,
)
from apps.chain.dex import pumpfun as pf
from apps.chain.dex import pumpswap_state as pss
from apps.chain.dex import raydium_amm_v4 as ray
from apps.chain.spl import (
    TOKEN_ACCOUNT_LEN,
    decode_mint,
    decode_token_account,
    sol_transfer,
)
from apps.localnet.emulation import pumpfun as pumpfun_emulation
from apps.localnet.emulation import pumpswap as pumpswap_emulation
from apps.localnet.emulation.base import VenueFailure

MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
# Lamports nobody can hold: a transfer of this much always fails, charging only the fee.
_IMPOSSIBLE_LAMPORTS = 2**64 - 1
_SINK = Pubkey.from_bytes(hashlib.sha256(b"volumebot-localnet-sink").digest())
_SET_CU_LIMIT = 2
_SET_CU_PRICE = 3


class AccountView(Protocol):
    def get_account(self, address: Pubkey) -> Account | None: ...


@dataclass
class Rewrite:
    """The transaction LiteSVM runs instead of the client's, and how to map its outcome back."""

    instructions: list[Instruction]
    index_map: list[int]
    writes: dict[Pubkey, Account]
    forced: tuple[int, int, Pubkey] | None = None  # (rewritten index, error code, program)
    translations: dict[int, dict[int, int]] = field(default_factory=dict)


@dataclass
class _Step:
    instructions: list[Instruction]
    translate: dict[int, dict[int, int]] = field(default_factory=dict)


class _Overlay:
    """The emulator's view: pending writes over the cluster, plus virtual vault deltas."""

    def __init__(self, view: AccountView):
        self._view = view
        self.writes: dict[Pubkey, Account] = {}
        self._deltas: dict[Pubkey, int] = {}

    def get(self, address: Pubkey) -> Account | None:
        if address in self.writes:
            return self.writes[address]
        acc = self._view.get_account(address)
        return acc if acc is not None and acc.lamports > 0 else None

    def token_amount(self, address: Pubkey) -> int:
        acc = self.get(address)
        if acc is None:
            raise VenueFailure(ray.ERR_EXPECTED_ACCOUNT)
        return decode_token_account(bytes(acc.data)).amount + self._deltas.get(address, 0)

    def move(self, address: Pubkey, delta: int) -> None:
        self._deltas[address] = self._deltas.get(address, 0) + delta

    def delegate(self, vault: Pubkey, *, to: Pubkey, amount: int) -> None:
        acc = self.get(vault)
        if acc is None:
            raise VenueFailure(ray.ERR_EXPECTED_ACCOUNT)
        data = bytes(acc.data)
        state = decode_token_account(data)
        already = state.delegated_amount if state.delegate == to else 0
        updated = TokenAccount(
            mint=state.mint,
            owner=state.owner,
            amount=state.amount,
            delegate=to,
            state=state.state,
            is_native=state.is_native,
            delegated_amount=already + amount,
            close_authority=state.close_authority,
        )
        new_data = bytes(updated) + data[TOKEN_ACCOUNT_LEN:]
        self.writes[vault] = Account(
            acc.lamports, new_data, acc.owner, acc.executable, acc.rent_epoch
        )

    def put(self, address: Pubkey, account: Account) -> None:
        self.writes[address] = account

    def decimals(self, mint: Pubkey) -> int:
        acc = self.get(mint)
        if acc is None:
            raise VenueFailure(ray.ERR_EXPECTED_ACCOUNT)
        return decode_mint(bytes(acc.data)).decimals


def writable_flags(message) -> list[bool]:
    header = message.header
    n = len(message.account_keys)
    signed = header.num_required_signatures
    return [
        i < signed - header.num_readonly_signed_accounts
        or signed <= i < n - header.num_readonly_unsigned_accounts
        for i in range(n)
    ]


def decompile(message) -> list[Instruction]:
    """The message's instructions with the message-level signer/writable flags."""
    keys = message.account_keys
    signed = message.header.num_required_signatures
    writable = writable_flags(message)
    return [
        Instruction(
            keys[ci.program_id_index],
            bytes(ci.data),
            [AccountMeta(keys[a], a < signed, writable[a]) for a in ci.accounts],
        )
        for ci in message.instructions
    ]


def default_compute_unit_limit(instructions: list[Instruction]) -> int:
    """The limit the runtime assumes when a transaction sets none (measured on LiteSVM)."""
    total = sum(
        DEFAULT_BUILTIN_INSTRUCTION_CU
        if ix.program_id in BUILTIN_PROGRAM_IDS
        else DEFAULT_INSTRUCTION_CU
        for ix in instructions
    )
    return min(total, MAX_COMPUTE_UNIT_LIMIT)


def compute_budget(instructions: list[Instruction]) -> tuple[int | None, int]:
    """(explicit compute-unit limit or None, compute-unit price in micro-lamports)."""
    limit, price = None, 0
    for ix in instructions:
        if ix.program_id != COMPUTE_BUDGET_PROGRAM_ID or not ix.data:
            continue
        data = bytes(ix.data)
        if data[0] == _SET_CU_LIMIT:
            (limit,) = struct.unpack_from("<I", data, 1)
        elif data[0] == _SET_CU_PRICE:
            (price,) = struct.unpack_from("<Q", data, 1)
    return limit, price


def _first_signer(ix: Instruction, payer: Pubkey) -> Pubkey:
    return next((m.pubkey for m in ix.accounts if m.is_signer), payer)


def _always_fails(signer: Pubkey) -> Instruction:
    return sol_transfer(source=signer, destination=_SINK, lamports=_IMPOSSIBLE_LAMPORTS)


def _keeps_signer(signer: Pubkey) -> Instruction:
    # A signed memo keeps a skipped instruction's signer in the message, so the fee is unchanged.
    return Instruction(MEMO_PROGRAM_ID, b"", [AccountMeta(signer, True, False)])


EMULATED: dict[Pubkey, Callable[[Instruction, _Overlay], _Step]] = {
    pf.PROGRAM_ID: pumpfun_emulation.emulate,
    pss.PROGRAM_ID: pumpswap_emulation.emulate,
}


def rewrite(view: AccountView, message) -> Rewrite | None:
    """Plan the rewritten transaction, or None when no instruction names an emulated program."""
    instructions = decompile(message)
    if not any(ix.program_id in EMULATED for ix in instructions):
        return None
    payer = message.account_keys[0]
    ov = _Overlay(view)
    out: list[Instruction] = []
    index_map: list[int] = []
    forced: tuple[int, int, Pubkey] | None = None
    translations: dict[int, dict[int, int]] = {}
    limit, price = compute_budget(instructions)
    if price and limit is None:
        # The rewrite changes the instruction count and so the default limit (and the
        # priority fee); pin the limit the original transaction would have had.
        out.append(set_compute_unit_limit(default_compute_unit_limit(instructions)))
        index_map.append(0)
    for index, ix in enumerate(instructions):
        emulate = EMULATED.get(ix.program_id)
        if emulate is None:
            out.append(ix)
            index_map.append(index)
            continue
        signer = _first_signer(ix, payer)
        if forced is not None:
            out.append(_keeps_signer(signer))
            index_map.append(index)
            continue
        try:
            step = emulate(ix, ov)
        except VenueFailure as failure:
            forced = (len(out), failure.code, ix.program_id)
            out.append(_always_fails(signer))
            index_map.append(index)
            continue
        for k, new_ix in enumerate(step.instructions):
            if k in step.translate:
                translations[len(out)] = step.translate[k]
            out.append(new_ix)
            index_map.append(index)
    return Rewrite(out, index_map, ov.writes, forced, translations)
