"""Accounts and transactions in the encodings a node answers with (`binary`, `base58`,
`base64`, `base64+zstd`, `json`, `jsonParsed`)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from apps.chain.b58 import b58encode
from apps.localnet.dex_emulation import writable_flags
from apps.localnet.parsed import Unparsable, parse_account, parse_instruction

ACCOUNT_ENCODINGS = ("binary", "base58", "base64", "jsonParsed", "base64+zstd")
TRANSACTION_ENCODINGS = ("binary", "base64", "base58", "json", "jsonParsed")
MAX_BASE58_BYTES = 128
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_MAX_BLOCK = 128 * 1024


class EncodingError(ValueError):
    """The request asks for an encoding (or slice) the node refuses; the text is the node's."""


def unknown_variant(value: Any, expected: tuple[str, ...]) -> EncodingError:
    names = ", ".join(f"`{name}`" for name in expected)
    return EncodingError(f"Invalid params: unknown variant `{value}`, expected one of {names}.")


def zstd_frame(data: bytes) -> bytes:
    """A valid Zstandard frame holding `data` in raw (stored) blocks.

    Any zstd decoder reads it; it is simply not smaller. The localnet has no compressor among
    its dependencies, and clients ask for base64+zstd for the format, not for the ratio."""
    size = len(data)
    # Single-segment frame: no window descriptor, the content size says it all.
    if size < 256:
        header, fcs = 0b0010_0000, size.to_bytes(1, "little")
    elif size < 65536 + 256:
        header, fcs = 0b0110_0000, (size - 256).to_bytes(2, "little")
    else:
        header, fcs = 0b1010_0000, size.to_bytes(4, "little")
    out = bytearray(_ZSTD_MAGIC + bytes([header]) + fcs)
    chunks = [data[i : i + _ZSTD_MAX_BLOCK] for i in range(0, size, _ZSTD_MAX_BLOCK)] or [b""]
    for index, chunk in enumerate(chunks):
        last = 1 if index == len(chunks) - 1 else 0
        out += (last | (len(chunk) << 3)).to_bytes(3, "little")  # block type 0: raw
        out += chunk
    return bytes(out)


def _binary(data: bytes, encoding: str) -> Any:
    if encoding in ("binary", "base58"):
        if len(data) > MAX_BASE58_BYTES:
            raise EncodingError(
                "Encoded binary (base 58) data should be less than 128 bytes, please use "
                "Base64 encoding."
            )
        text = b58encode(data)
        return text if encoding == "binary" else [text, "base58"]
    if encoding == "base64+zstd":
        return [base64.b64encode(zstd_frame(data)).decode(), "base64+zstd"]
    return [base64.b64encode(data).decode(), "base64"]


def account_config(config: dict) -> tuple[str, dict | None]:
    """(encoding, dataSlice) of an account request, checked as a node checks them."""
    encoding = config.get("encoding", "binary")
    if encoding not in ACCOUNT_ENCODINGS:
        raise unknown_variant(encoding, ACCOUNT_ENCODINGS)
    data_slice = config.get("dataSlice")
    if data_slice is not None:
        if encoding == "jsonParsed":
            raise EncodingError(
                "Sliced account data can only be encoded using binary (base 58) or base64 encoding."
            )
        if not isinstance(data_slice, dict) or not {"offset", "length"} <= data_slice.keys():
            raise EncodingError("Invalid params: dataSlice needs offset and length.")
    return encoding, data_slice


def encode_account(
    account: Account,
    *,
    encoding: str,
    data_slice: dict | None,
    mint_decimals: Callable[[Pubkey], int | None],
) -> dict:
    """The `UiAccount` a node answers (jsonParsed falls back to base64 where nothing parses)."""
    data = bytes(account.data)
    if encoding == "jsonParsed":
        try:
            encoded: Any = parse_account(account.owner, data, mint_decimals=mint_decimals)
        except Unparsable:
            encoded = _binary(data, "base64")
    else:
        if data_slice is not None:
            offset, length = int(data_slice["offset"]), int(data_slice["length"])
            data = data[offset : offset + length]
        encoded = _binary(data, encoding)
    return {
        "data": encoded,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def encode_transaction(tx: VersionedTransaction, encoding: str) -> Any:
    """The `transaction` field of getTransaction/getBlock in `encoding`."""
    if encoding in ("base64", "base58", "binary"):
        raw = bytes(tx)
        if encoding == "base64":
            return [base64.b64encode(raw).decode(), "base64"]
        return b58encode(raw) if encoding == "binary" else [b58encode(raw), "base58"]
    message = tx.message
    keys = list(message.account_keys)
    if encoding == "jsonParsed":
        signers = message.header.num_required_signatures
        account_keys: list[Any] = [
            {"pubkey": str(key), "signer": index < signers, "source": "transaction",
             "writable": writable}
            for index, (key, writable) in enumerate(zip(keys, writable_flags(message),
                                                         strict=True))
        ]  # fmt: skip
        instructions = [
            parse_instruction(
                keys[ix.program_id_index], [keys[i] for i in bytes(ix.accounts)], bytes(ix.data)
            )
            for ix in message.instructions
        ]
        body: dict[str, Any] = {"accountKeys": account_keys, "instructions": instructions,
                                "recentBlockhash": str(message.recent_blockhash)}  # fmt: skip
    else:
        header = message.header
        body = {
            "accountKeys": [str(k) for k in keys],
            "header": {
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                "numRequiredSignatures": header.num_required_signatures,
            },
            "instructions": [
                {"accounts": list(bytes(ix.accounts)), "data": b58encode(bytes(ix.data)),
                 "programIdIndex": ix.program_id_index, "stackHeight": None}
                for ix in message.instructions
            ],
            "recentBlockhash": str(message.recent_blockhash),
        }  # fmt: skip
    if isinstance(message, MessageV0):
        # The localnet refuses lookup tables, so a v0 message here never has any.
        body["addressTableLookups"] = []
    return {"message": body, "signatures": [str(s) for s in tx.signatures]}


def transaction_meta(meta: dict, encoding: str) -> dict:
    """A solders-serialized meta trimmed to what a node sends for `encoding`: absent
    optional fields are left out, and a parsed meta names no loaded addresses (the parsed
    account keys carry their source instead)."""
    out = {k: v for k, v in meta.items() if v is not None or k == "err"}
    if encoding == "jsonParsed":
        out.pop("loadedAddresses", None)
    else:
        out.setdefault("loadedAddresses", {"readonly": [], "writable": []})
    return out
