"""Account rules and argument layouts read from the official Anchor IDL files
(`apps/chain/dex/idl/`): the one source of truth for the emulations' checks and the golden tests.

For every account of an instruction the IDL says whether it is writable or a signer, and either
a fixed `address`, a PDA (`seeds`, each a constant or another account's key or a field of a
decoded account such as `bonding_curve.creator`, under the program or another one), or nothing
(a free account the program checks in its own code). `check_accounts` applies them in order as
Anchor does and raises the framework's error codes: AccountNotEnoughKeys (3005),
AccountNotSigner (3010), ConstraintMut (2000), ConstraintAddress (2012), ConstraintSeeds (2006).
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.localnet.emulation.base import Overlay, Step, VenueFailure

IDL_DIR = Path(__file__).resolve().parents[2] / "chain" / "dex" / "idl"

ACCOUNT_NOT_ENOUGH_KEYS = 3005
ACCOUNT_NOT_SIGNER = 3010
CONSTRAINT_MUT = 2000
CONSTRAINT_SEEDS = 2006
CONSTRAINT_ADDRESS = 2012
INSTRUCTION_FALLBACK_NOT_FOUND = 101
INSTRUCTION_DID_NOT_DESERIALIZE = 102


@dataclass(frozen=True)
class Seed:
    kind: str  # "const" or "account"
    value: bytes = b""
    path: str = ""


@dataclass(frozen=True)
class IdlAccount:
    name: str
    writable: bool
    signer: bool
    address: Pubkey | None
    seeds: tuple[Seed, ...] | None
    seeds_program: Seed | None

    @property
    def rule(self) -> str:
        return "address" if self.address else "pda" if self.seeds is not None else "free"


@dataclass(frozen=True)
class IdlInstruction:
    program_id: Pubkey
    name: str
    discriminator: bytes
    accounts: tuple[IdlAccount, ...]
    args: tuple[tuple[str, str, str], ...]  # (name, type name, struct format)


def _seed(raw: dict) -> Seed:
    if raw["kind"] == "const":
        return Seed("const", value=bytes(raw["value"]))
    return Seed("account", path=raw["path"])


def _account(raw: dict) -> IdlAccount:
    pda = raw.get("pda")
    return IdlAccount(
        name=raw["name"],
        writable=raw.get("writable", False),
        signer=raw.get("signer", False),
        address=Pubkey.from_string(raw["address"]) if "address" in raw else None,
        seeds=tuple(_seed(s) for s in pda["seeds"]) if pda else None,
        seeds_program=_seed(pda["program"]) if pda and "program" in pda else None,
    )


_PRIMITIVES = {"u8": "B", "bool": "?", "u16": "H", "u32": "I", "u64": "Q", "i64": "q"}


def _arg(raw: dict, types: dict) -> tuple[str, str, str]:
    """(name, type name, struct format): a primitive, or a defined struct of primitives such as
    `OptionBool` (one `bool` field). Other types keep an empty format (not encodable here)."""
    kind = raw["type"]
    if isinstance(kind, str):
        return raw["name"], kind, "<" + _PRIMITIVES.get(kind, "")
    if "defined" not in kind:
        return raw["name"], json.dumps(kind), ""
    name = kind["defined"]["name"]
    fields = types[name]["type"].get("fields", [])
    primitives = [f if isinstance(f, str) else f["type"] for f in fields]
    if not all(isinstance(p, str) and p in _PRIMITIVES for p in primitives):
        return raw["name"], name, ""
    return raw["name"], name, "<" + "".join(_PRIMITIVES[p] for p in primitives)


@functools.cache
def instructions(program: str) -> dict[str, IdlInstruction]:
    """The instructions of `program` (`pump`, `pump_amm`, `pump_fees`) by name."""
    idl = json.loads((IDL_DIR / f"{program}.json").read_text())
    program_id = Pubkey.from_string(idl["address"])
    types = {t["name"]: t for t in idl["types"]}
    return {
        ix["name"]: IdlInstruction(
            program_id=program_id,
            name=ix["name"],
            discriminator=bytes(ix["discriminator"]),
            accounts=tuple(_account(a) for a in ix["accounts"]),
            args=tuple(_arg(a, types) for a in ix["args"]),
        )
        for ix in idl["instructions"]
    }


def instruction(program: str, name: str) -> IdlInstruction:
    return instructions(program)[name]


def encode_args(ix: IdlInstruction, values: Mapping[str, object]) -> bytes:
    """The instruction data: discriminator, then each argument in IDL order (borsh)."""
    return ix.discriminator + b"".join(
        struct.pack(layout, values[name]) for name, _, layout in ix.args
    )


def decode_args(ix: IdlInstruction, data: bytes) -> dict[str, object]:
    """The arguments of `data`; a trailing OptionBool may be left out (read as None), which is
    what lets clients written before it existed keep working."""
    values: dict[str, object] = {}
    offset = len(ix.discriminator)
    for position, (name, kind, fmt) in enumerate(ix.args):
        layout = struct.Struct(fmt)
        if offset + layout.size > len(data):
            if kind == "OptionBool" and position == len(ix.args) - 1:
                values[name] = None
                continue
            raise VenueFailure(INSTRUCTION_DID_NOT_DESERIALIZE)
        (values[name],) = layout.unpack_from(data, offset)
        offset += layout.size
    return values


@dataclass(frozen=True)
class ExpectedAccount:
    name: str
    pubkey: Pubkey
    writable: bool
    signer: bool
    rule: str


def _pda(
    account: IdlAccount,
    *,
    program_id: Pubkey,
    key: Callable[[str], Pubkey],
    fields: Mapping[str, Pubkey],
) -> Pubkey:
    def seed_bytes(seed: Seed) -> bytes:
        if seed.kind == "const":
            return seed.value
        if "." in seed.path:
            return bytes(fields[seed.path])
        return bytes(key(seed.path))

    program = program_id if account.seeds_program is None else account.seeds_program
    if isinstance(program, Seed):
        program = Pubkey.from_bytes(seed_bytes(program))
    return Pubkey.find_program_address([seed_bytes(s) for s in account.seeds], program)[0]


def expected_accounts(
    ix: IdlInstruction, *, free: Mapping[str, Pubkey], fields: Mapping[str, Pubkey]
) -> list[ExpectedAccount]:
    """The account list the IDL prescribes: fixed addresses and PDAs derived here; `free`
    names the accounts the IDL leaves open (and overrides nothing else); `fields` gives the
    decoded values PDA seeds refer to (e.g. `bonding_curve.creator`)."""
    by_name = {a.name: a for a in ix.accounts}
    resolved: dict[str, Pubkey] = {}

    def key(name: str) -> Pubkey:
        if name not in resolved:
            account = by_name[name]
            if account.address is not None:
                resolved[name] = account.address
            elif account.seeds is not None:
                resolved[name] = _pda(account, program_id=ix.program_id, key=key, fields=fields)
            else:
                resolved[name] = free[name]
        return resolved[name]

    return [ExpectedAccount(a.name, key(a.name), a.writable, a.signer, a.rule) for a in ix.accounts]


def check_accounts(
    ix: IdlInstruction, metas: Sequence[AccountMeta], *, fields: Mapping[str, Pubkey]
) -> dict[str, AccountMeta]:
    """Check `metas` against the IDL in order, as Anchor validates them; returns the named
    accounts. Accounts past the IDL's list are the caller's (remaining accounts)."""
    if len(metas) < len(ix.accounts):
        raise VenueFailure(ACCOUNT_NOT_ENOUGH_KEYS)
    named = {a.name: m for a, m in zip(ix.accounts, metas, strict=False)}
    for account in ix.accounts:
        meta = named[account.name]
        if account.signer and not meta.is_signer:
            raise VenueFailure(ACCOUNT_NOT_SIGNER)
        if account.writable and not meta.is_writable:
            raise VenueFailure(CONSTRAINT_MUT)
        if account.address is not None and meta.pubkey != account.address:
            raise VenueFailure(CONSTRAINT_ADDRESS)
        if account.seeds is not None:
            derived = _pda(
                account,
                program_id=ix.program_id,
                key=lambda name: named[name].pubkey,
                fields=fields,
            )
            if meta.pubkey != derived:
                raise VenueFailure(CONSTRAINT_SEEDS)
    return named


def dispatch(
    ix: Instruction, ov: Overlay, handlers: Mapping[bytes, Callable[[Instruction, Overlay], Step]]
) -> Step:
    """Run the handler of the instruction's 8-byte discriminator (an unknown one fails as
    Anchor's InstructionFallbackNotFound)."""
    handler = handlers.get(bytes(ix.data)[:8])
    if handler is None:
        raise VenueFailure(INSTRUCTION_FALLBACK_NOT_FOUND)
    return handler(ix, ov)
