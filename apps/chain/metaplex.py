"""Metaplex token-metadata accounts (`MetadataV1` layout at PDA ["metadata", program, mint])."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from apps.chain.constants import METAPLEX_METADATA_PROGRAM_ID

KEY_METADATA_V1 = 4
MAX_NAME_LENGTH = 32
MAX_SYMBOL_LENGTH = 10
MAX_URI_LENGTH = 200
MAX_METADATA_LEN = 679
TOKEN_STANDARD_FUNGIBLE = 2


def metadata_address(mint: Pubkey) -> Pubkey:
    seeds = [b"metadata", bytes(METAPLEX_METADATA_PROGRAM_ID), bytes(mint)]
    return Pubkey.find_program_address(seeds, METAPLEX_METADATA_PROGRAM_ID)[0]


def _put_string(value: str, width: int) -> bytes:
    # Metaplex stores strings padded with NULs to their maximum length.
    raw = value.encode()
    if len(raw) > width:
        raise ValueError(f"{value!r} is longer than {width} bytes")
    raw = raw.ljust(width, b"\0")
    return struct.pack("<I", len(raw)) + raw


def read_string(data: bytes, offset: int) -> tuple[str, int]:
    """A Borsh string (u32 length, bytes) at `offset`, NUL padding dropped; and the offset after
    it. Shared with the Token-2022 metadata extension, which stores its strings the same way."""
    (length,) = struct.unpack_from("<I", data, offset)
    start = offset + 4
    if start + length > len(data):
        raise ValueError("string runs past the end of the account")
    return data[start : start + length].rstrip(b"\0").decode("utf-8", "replace"), start + length


@dataclass(frozen=True)
class TokenMetadata:
    update_authority: Pubkey
    mint: Pubkey
    name: str
    symbol: str
    uri: str
    seller_fee_basis_points: int = 0
    is_mutable: bool = True

    def encode(self) -> bytes:
        body = (
            bytes([KEY_METADATA_V1])
            + bytes(self.update_authority)
            + bytes(self.mint)
            + _put_string(self.name, MAX_NAME_LENGTH)
            + _put_string(self.symbol, MAX_SYMBOL_LENGTH)
            + _put_string(self.uri, MAX_URI_LENGTH)
            + struct.pack("<H", self.seller_fee_basis_points)
            + b"\0"  # creators: None
            + b"\0"  # primary_sale_happened
            + bytes([self.is_mutable])
            + b"\0"  # edition_nonce: None
            + bytes([1, TOKEN_STANDARD_FUNGIBLE])  # token_standard: Some(Fungible)
            + b"\0\0\0\0"  # collection, uses, collection_details, programmable_config: None
        )
        return body.ljust(MAX_METADATA_LEN, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> TokenMetadata:
        if not data or data[0] != KEY_METADATA_V1:
            raise ValueError("not a Metaplex MetadataV1 account")
        update_authority = Pubkey.from_bytes(data[1:33])
        mint = Pubkey.from_bytes(data[33:65])
        name, offset = read_string(data, 65)
        symbol, offset = read_string(data, offset)
        uri, offset = read_string(data, offset)
        (fee_bps,) = struct.unpack_from("<H", data, offset)
        offset += 2
        if data[offset]:  # creators: Some(vec) — skip 34 bytes per creator
            (count,) = struct.unpack_from("<I", data, offset + 1)
            offset += 1 + 4 + 34 * count
        else:
            offset += 1
        is_mutable = bool(data[offset + 1])
        return cls(update_authority, mint, name, symbol, uri, fee_bps, is_mutable)
