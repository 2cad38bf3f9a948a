"""`jsonParsed` as a node answers it: accounts and instructions of the programs a node parses.

A node (agave's account-decoder and transaction-status crates) parses System nonce accounts,
SPL Token and Token-2022 accounts and mints (extensions included) and the instructions of
System, SPL Token / Token-2022, Associated Token and Memo; every other instruction (Compute
Budget included: a node does not parse it either) is answered "partially decoded" (program id,
account list, base58 data), and every other account falls back to base64. Written from the
programs' public layouts; what this module does not parse falls back the same way, never a
wrong shape.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey

from apps.chain.b58 import b58encode
from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)

MEMO_PROGRAM_IDS = frozenset(
    {
        Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
        Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),
    }
)
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID})
_ACCOUNT_LEN = 165
_MINT_LEN = 82
_MULTISIG_LEN = 355
_NONCE_LEN = 80
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2


class Unparsable(Exception):
    """The bytes do not fit the layout: the caller falls back to the raw encoding."""


class _Reader:
    def __init__(self, data: bytes, offset: int = 0):
        self.data = data
        self.pos = offset

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Unparsable("short data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def i16(self) -> int:
        return struct.unpack("<h", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def pubkey(self) -> str:
        return str(Pubkey.from_bytes(self.take(32)))

    def nonzero_pubkey(self) -> str | None:
        raw = self.take(32)
        return None if raw == bytes(32) else str(Pubkey.from_bytes(raw))

    def coption_pubkey(self) -> str | None:
        # SPL's COption<Pubkey>: a u32 tag then always 32 bytes.
        tag = self.u32()
        key = self.take(32)
        return str(Pubkey.from_bytes(key)) if tag == 1 else None

    def coption_u64(self) -> int | None:
        tag = self.u32()
        value = self.u64()
        return value if tag == 1 else None

    def option_pubkey(self) -> str | None:
        # Instruction data's Option<Pubkey> (one tag byte, key only when present).
        return self.pubkey() if self.u8() == 1 else None

    def borsh_string(self) -> str:
        return self.take(self.u32()).decode("utf-8", errors="replace")


def ui_token_amount(amount: int, decimals: int) -> dict:
    """The node's `UiTokenAmount`: the raw amount is the value, the float display-only."""
    ui = Decimal(amount).scaleb(-decimals)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(ui),
        "uiAmountString": format(ui.normalize(), "f") if amount else "0",
    }


# -- accounts --------------------------------------------------------------------------------


def parse_account(
    owner: Pubkey, data: bytes, *, mint_decimals: Callable[[Pubkey], int | None]
) -> dict:
    """The `data` object of a jsonParsed account; raises `Unparsable` for any other account.

    `mint_decimals` looks a mint up (a token account's amounts need its decimals)."""
    if owner in TOKEN_PROGRAMS:
        program = "spl-token" if owner == TOKEN_PROGRAM_ID else "spl-token-2022"
        parsed = _parse_token_state(data, owner, mint_decimals)
    elif owner == SYSTEM_PROGRAM_ID and len(data) == _NONCE_LEN:
        program, parsed = "nonce", _parse_nonce(data)
    else:
        raise Unparsable("no parser for this program")
    return {"program": program, "parsed": parsed, "space": len(data)}


def _parse_nonce(data: bytes) -> dict:
    r = _Reader(data)
    version, state = r.u32(), r.u32()
    if version not in (0, 1) or state not in (0, 1):
        raise Unparsable("not a nonce account")
    if state == 0:
        return {"type": "uninitialized"}
    authority, blockhash, lamports = r.pubkey(), r.pubkey(), r.u64()
    return {
        "type": "initialized",
        "info": {
            "authority": authority,
            "blockhash": blockhash,
            "feeCalculator": {"lamportsPerSignature": str(lamports)},
        },
    }


def _account_type(data: bytes, owner: Pubkey) -> int | None:
    if len(data) == _ACCOUNT_LEN:
        return _ACCOUNT_TYPE_ACCOUNT
    if len(data) == _MINT_LEN:
        return _ACCOUNT_TYPE_MINT
    if owner == TOKEN_2022_PROGRAM_ID and len(data) > _ACCOUNT_LEN:
        return data[_ACCOUNT_LEN]
    return None


def _parse_token_state(data: bytes, owner: Pubkey, mint_decimals) -> dict:
    if len(data) == _MULTISIG_LEN:
        r = _Reader(data)
        m, n, initialized = r.u8(), r.u8(), r.u8() == 1
        signers = [r.pubkey() for _ in range(11)][:n]
        return {
            "type": "multisig",
            "info": {"isInitialized": initialized, "numRequiredSigners": m,
                     "numValidSigners": n, "signers": signers},
        }  # fmt: skip
    kind = _account_type(data, owner)
    if kind == _ACCOUNT_TYPE_MINT:
        return {"type": "mint", "info": _parse_mint(data)}
    if kind == _ACCOUNT_TYPE_ACCOUNT:
        return {"type": "account", "info": _parse_token_account(data, mint_decimals)}
    raise Unparsable("not a token account or mint")


def _parse_mint(data: bytes) -> dict:
    r = _Reader(data)
    mint_authority = r.coption_pubkey()
    supply, decimals, initialized = r.u64(), r.u8(), r.u8() == 1
    freeze_authority = r.coption_pubkey()
    if not initialized:
        raise Unparsable("uninitialized mint")
    info: dict[str, Any] = {
        "decimals": decimals,
        "freezeAuthority": freeze_authority,
        "isInitialized": True,
        "mintAuthority": mint_authority,
        "supply": str(supply),
    }
    extensions = _parse_extensions(data, decimals)
    if extensions:
        info["extensions"] = extensions
    return info


def _parse_token_account(data: bytes, mint_decimals) -> dict:
    r = _Reader(data)
    mint = Pubkey.from_bytes(r.take(32))
    owner, amount = r.pubkey(), r.u64()
    delegate = r.coption_pubkey()
    state = r.u8()
    native_reserve = r.coption_u64()
    delegated, close_authority = r.u64(), r.coption_pubkey()
    if state == 0:
        raise Unparsable("uninitialized token account")
    decimals = mint_decimals(mint)
    if decimals is None:
        raise Unparsable("the account's mint is missing")
    info: dict[str, Any] = {
        "isNative": native_reserve is not None,
        "mint": str(mint),
        "owner": owner,
        "state": "frozen" if state == 2 else "initialized",
        "tokenAmount": ui_token_amount(amount, decimals),
    }
    if delegate is not None:
        info["delegate"] = delegate
        info["delegatedAmount"] = ui_token_amount(delegated, decimals)
    if native_reserve is not None:
        info["rentExemptReserve"] = ui_token_amount(native_reserve, decimals)
    if close_authority is not None:
        info["closeAuthority"] = close_authority
    extensions = _parse_extensions(data, decimals)
    if extensions:
        info["extensions"] = extensions
    return info


_ACCOUNT_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


def _fee(r: _Reader) -> dict:
    return {"epoch": r.u64(), "maximumFee": r.u64(), "transferFeeBasisPoints": r.u16()}


def _token_metadata(r: _Reader) -> dict:
    update_authority, mint = r.nonzero_pubkey(), r.pubkey()
    name, symbol, uri = r.borsh_string(), r.borsh_string(), r.borsh_string()
    extra = [[r.borsh_string(), r.borsh_string()] for _ in range(r.u32())]
    return {"updateAuthority": update_authority, "mint": mint, "name": name,
            "symbol": symbol, "uri": uri, "additionalMetadata": extra}  # fmt: skip


# Token-2022 extension type -> (name, parser of its state or None when it has none).
_EXTENSIONS: dict[int, tuple[str, Callable[[_Reader], dict] | None]] = {
    1: ("transferFeeConfig", lambda r: {
        "transferFeeConfigAuthority": r.nonzero_pubkey(),
        "withdrawWithheldAuthority": r.nonzero_pubkey(),
        "withheldAmount": r.u64(),
        "olderTransferFee": _fee(r),
        "newerTransferFee": _fee(r),
    }),
    2: ("transferFeeAmount", lambda r: {"withheldAmount": r.u64()}),
    3: ("mintCloseAuthority", lambda r: {"closeAuthority": r.nonzero_pubkey()}),
    6: ("defaultAccountState", lambda r: {"accountState": _ACCOUNT_STATES.get(r.u8(), "?")}),
    7: ("immutableOwner", None),
    8: ("memoTransfer", lambda r: {"requireIncomingTransferMemos": r.u8() == 1}),
    9: ("nonTransferable", None),
    10: ("interestBearingConfig", lambda r: {
        "rateAuthority": r.nonzero_pubkey(),
        "initializationTimestamp": r.i64(),
        "preUpdateAverageRate": r.i16(),
        "lastUpdateTimestamp": r.i64(),
        "currentRate": r.i16(),
    }),
    11: ("cpiGuard", lambda r: {"lockCpi": r.u8() == 1}),
    12: ("permanentDelegate", lambda r: {"delegate": r.nonzero_pubkey()}),
    13: ("nonTransferableAccount", None),
    14: ("transferHook", lambda r: {"authority": r.nonzero_pubkey(),
                                    "programId": r.nonzero_pubkey()}),
    15: ("transferHookAccount", lambda r: {"transferring": r.u8() == 1}),
    18: ("metadataPointer", lambda r: {"authority": r.nonzero_pubkey(),
                                       "metadataAddress": r.nonzero_pubkey()}),
    19: ("tokenMetadata", _token_metadata),
    20: ("groupPointer", lambda r: {"authority": r.nonzero_pubkey(),
                                    "groupAddress": r.nonzero_pubkey()}),
    22: ("groupMemberPointer", lambda r: {"authority": r.nonzero_pubkey(),
                                          "memberAddress": r.nonzero_pubkey()}),
}  # fmt: skip


def _parse_extensions(data: bytes, decimals: int) -> list[dict]:
    """Token-2022's TLV entries after the account-type byte (offset 166)."""
    if len(data) <= _ACCOUNT_LEN + 1:
        return []
    extensions = []
    r = _Reader(data, _ACCOUNT_LEN + 1)
    while r.pos + 4 <= len(data):
        kind, length = r.u16(), r.u16()
        if kind == 0:  # uninitialized padding ends the list
            break
        body = r.take(length)
        name, parser = _EXTENSIONS.get(kind, ("unparseableExtension", None))
        entry: dict[str, Any] = {"extension": name}
        if parser is not None:
            try:
                entry["state"] = parser(_Reader(body))
            except Unparsable:
                entry = {"extension": "unparseableExtension"}
        extensions.append(entry)
    return extensions


# -- instructions ----------------------------------------------------------------------------


def parse_instruction(program_id: Pubkey, accounts: Sequence[Pubkey], data: bytes) -> dict:
    """One instruction as a node's jsonParsed shows it (parsed, or partially decoded)."""
    parser = _INSTRUCTION_PARSERS.get(program_id)
    if program_id in MEMO_PROGRAM_IDS:
        return {
            "parsed": data.decode("utf-8", errors="replace"),
            "program": "spl-memo",
            "programId": str(program_id),
            "stackHeight": None,
        }
    if parser is not None:
        program, parse = parser
        try:
            kind, info = parse([str(a) for a in accounts], data)
        except (Unparsable, IndexError):
            pass
        else:
            parsed: dict[str, Any] = {"info": info, "type": kind}
            return {"parsed": parsed, "program": program, "programId": str(program_id),
                    "stackHeight": None}  # fmt: skip
    return {
        "accounts": [str(a) for a in accounts],
        "data": b58encode(data),
        "programId": str(program_id),
        "stackHeight": None,
    }


def _system(keys: list[str], data: bytes) -> tuple[str, dict]:
    r = _Reader(data)
    tag = r.u32()
    if tag == 0:
        lamports, space, owner = r.u64(), r.u64(), r.pubkey()
        return "createAccount", {"lamports": lamports, "newAccount": keys[1], "owner": owner,
                                 "source": keys[0], "space": space}  # fmt: skip
    if tag == 1:
        return "assign", {"account": keys[0], "owner": r.pubkey()}
    if tag == 2:
        return "transfer", {"destination": keys[1], "lamports": r.u64(), "source": keys[0]}
    if tag == 3:
        base = r.pubkey()
        seed = r.take(r.u64()).decode("utf-8", errors="replace")
        lamports, space, owner = r.u64(), r.u64(), r.pubkey()
        return "createAccountWithSeed", {
            "base": base, "lamports": lamports, "newAccount": keys[1], "owner": owner,
            "seed": seed, "source": keys[0], "space": space,
        }  # fmt: skip
    if tag == 4:
        return "advanceNonce", {"nonceAccount": keys[0], "nonceAuthority": keys[2],
                                "recentBlockhashesSysvar": keys[1]}  # fmt: skip
    if tag == 5:
        return "withdrawFromNonce", {
            "destination": keys[1], "lamports": r.u64(), "nonceAccount": keys[0],
            "nonceAuthority": keys[4], "recentBlockhashesSysvar": keys[2], "rentSysvar": keys[3],
        }  # fmt: skip
    if tag == 6:
        return "initializeNonce", {"nonceAccount": keys[0], "nonceAuthority": r.pubkey(),
                                   "recentBlockhashesSysvar": keys[1],
                                   "rentSysvar": keys[2]}  # fmt: skip
    if tag == 7:
        return "authorizeNonce", {"newAuthorized": r.pubkey(), "nonceAccount": keys[0],
                                  "nonceAuthority": keys[1]}  # fmt: skip
    if tag == 8:
        return "allocate", {"account": keys[0], "space": r.u64()}
    if tag == 12:
        return "upgradeNonce", {"nonceAccount": keys[0]}
    raise Unparsable(f"system instruction {tag}")


_AUTHORITY_TYPES = {0: "mintTokens", 1: "freezeAccount", 2: "accountOwner", 3: "closeAccount"}


def _authority(info: dict, keys: list[str], index: int, name: str) -> dict:
    # More accounts than the instruction names: the authority is a multisig and the rest are
    # its signers, which a node lists under "multisig<Name>" and "signers".
    if len(keys) > index + 1:
        info["multisig" + name[0].upper() + name[1:]] = keys[index]
        info["signers"] = keys[index + 1 :]
    else:
        info[name] = keys[index]
    return info


def _token(keys: list[str], data: bytes) -> tuple[str, dict]:
    r = _Reader(data)
    tag = r.u8()
    if tag in (0, 20):
        decimals, mint_authority, freeze = r.u8(), r.pubkey(), r.option_pubkey()
        info: dict[str, Any] = {"decimals": decimals, "mint": keys[0],
                                "mintAuthority": mint_authority}  # fmt: skip
        if tag == 0:
            info["rentSysvar"] = keys[1]
        if freeze is not None:
            info["freezeAuthority"] = freeze
        return ("initializeMint" if tag == 0 else "initializeMint2"), info
    if tag == 1:
        return "initializeAccount", {"account": keys[0], "mint": keys[1], "owner": keys[2],
                                     "rentSysvar": keys[3]}  # fmt: skip
    if tag == 3:
        info = {"amount": str(r.u64()), "destination": keys[1], "source": keys[0]}
        return "transfer", _authority(info, keys, 2, "authority")
    if tag == 4:
        info = {"amount": str(r.u64()), "delegate": keys[1], "source": keys[0]}
        return "approve", _authority(info, keys, 2, "owner")
    if tag == 5:
        return "revoke", _authority({"source": keys[0]}, keys, 1, "owner")
    if tag == 6:
        kind = _AUTHORITY_TYPES.get(r.u8())
        if kind is None:
            raise Unparsable("authority type")
        target = "mint" if kind in ("mintTokens", "freezeAccount") else "account"
        info = {"authorityType": kind, "newAuthority": r.option_pubkey(), target: keys[0]}
        return "setAuthority", _authority(info, keys, 1, "authority")
    if tag == 7:
        info = {"account": keys[1], "amount": str(r.u64()), "mint": keys[0]}
        return "mintTo", _authority(info, keys, 2, "mintAuthority")
    if tag == 8:
        info = {"account": keys[0], "amount": str(r.u64()), "mint": keys[1]}
        return "burn", _authority(info, keys, 2, "authority")
    if tag == 9:
        info = {"account": keys[0], "destination": keys[1]}
        return "closeAccount", _authority(info, keys, 2, "owner")
    if tag in (10, 11):
        info = {"account": keys[0], "mint": keys[1]}
        name = "freezeAccount" if tag == 10 else "thawAccount"
        return name, _authority(info, keys, 2, "freezeAuthority")
    if tag == 12:
        amount, decimals = r.u64(), r.u8()
        info = {"destination": keys[2], "mint": keys[1], "source": keys[0],
                "tokenAmount": ui_token_amount(amount, decimals)}  # fmt: skip
        return "transferChecked", _authority(info, keys, 3, "authority")
    if tag == 13:
        amount, decimals = r.u64(), r.u8()
        info = {"delegate": keys[2], "mint": keys[1], "source": keys[0],
                "tokenAmount": ui_token_amount(amount, decimals)}  # fmt: skip
        return "approveChecked", _authority(info, keys, 3, "owner")
    if tag == 14:
        amount, decimals = r.u64(), r.u8()
        info = {"account": keys[1], "mint": keys[0],
                "tokenAmount": ui_token_amount(amount, decimals)}  # fmt: skip
        return "mintToChecked", _authority(info, keys, 2, "mintAuthority")
    if tag == 15:
        amount, decimals = r.u64(), r.u8()
        info = {"account": keys[0], "mint": keys[1],
                "tokenAmount": ui_token_amount(amount, decimals)}  # fmt: skip
        return "burnChecked", _authority(info, keys, 2, "authority")
    if tag == 16:
        return "initializeAccount2", {"account": keys[0], "mint": keys[1], "owner": r.pubkey(),
                                      "rentSysvar": keys[2]}  # fmt: skip
    if tag == 17:
        return "syncNative", {"account": keys[0]}
    if tag == 18:
        return "initializeAccount3", {"account": keys[0], "mint": keys[1], "owner": r.pubkey()}
    if tag == 21:
        return "getAccountDataSize", {"mint": keys[0]}
    if tag == 22:
        return "initializeImmutableOwner", {"account": keys[0]}
    if tag == 23:
        return "amountToUiAmount", {"amount": str(r.u64()), "mint": keys[0]}
    if tag == 24:
        return "uiAmountToAmount", {"mint": keys[0], "uiAmount": r.take(len(data) - 1).decode()}
    if tag == 25:
        return "initializeMintCloseAuthority", {"mint": keys[0], "newAuthority": r.option_pubkey()}
    raise Unparsable(f"token instruction {tag}")


def _associated_token(keys: list[str], data: bytes) -> tuple[str, dict]:
    tag = data[0] if data else 0
    if tag in (0, 1):
        info = {"account": keys[1], "mint": keys[3], "source": keys[0],
                "systemProgram": keys[4], "tokenProgram": keys[5], "wallet": keys[2]}  # fmt: skip
        return ("create" if tag == 0 else "createIdempotent"), info
    if tag == 2:
        return "recoverNested", {
            "destination": keys[2], "nestedMint": keys[1], "nestedOwner": keys[3],
            "nestedSource": keys[0], "ownerMint": keys[4], "tokenProgram": keys[6],
            "wallet": keys[5],
        }  # fmt: skip
    raise Unparsable(f"associated token instruction {tag}")


_INSTRUCTION_PARSERS: dict[Pubkey, tuple[str, Callable[[list[str], bytes], tuple[str, dict]]]] = {
    SYSTEM_PROGRAM_ID: ("system", _system),
    TOKEN_PROGRAM_ID: ("spl-token", _token),
    TOKEN_2022_PROGRAM_ID: ("spl-token", _token),
    ASSOCIATED_TOKEN_PROGRAM_ID: ("spl-associated-token-account", _associated_token),
}
