"""What Anchor-built programs (pump.fun, PumpSwap, the pump fee program, Raydium CPMM) share:
8-byte discriminators, fixed account layouts and the `#[event_cpi]` event authority."""

from __future__ import annotations

import hashlib
import struct

from solders.pubkey import Pubkey

from apps.chain.errors import DexError


def discriminator(namespace: str, name: str) -> bytes:
    """Anchor's discriminator: the first 8 bytes of sha256("<namespace>:<name>")."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


def unpack_account(
    layout: struct.Struct, data: bytes, *, account_discriminator: bytes, what: str
) -> tuple:
    """The fields of a fixed-layout account (the discriminator first). Accounts written before
    later fields existed are shorter: they are read zero-padded, as the official clients do."""
    if len(data) < 8 or data[:8] != account_discriminator:
        raise DexError(f"not a {what} account")
    return layout.unpack(data[: layout.size].ljust(layout.size, b"\0"))


def pubkeys(raw: bytes) -> tuple[Pubkey, ...]:
    """A fixed array of pubkeys, stored back to back."""
    return tuple(Pubkey.from_bytes(raw[i : i + 32]) for i in range(0, len(raw), 32))


def event_authority_address(program_id: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"__event_authority"], program_id)[0]
