"""Pure wallet logic, no ORM: base58, parsing of secret keys and addresses, display of amounts.

Error messages never echo the input: what a user pastes into a secret-key field is a secret even
when it is malformed (a typo in a real key is still most of the key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.b58 import b58decode
from apps.core.errors import ValidationFailed

ACCEPTED_IMPORT_FORMATS = (
    "a base58 secret key of 64 bytes (as exported by Phantom or Solflare), "
    "a JSON array of 64 numbers (the Solana CLI keypair file), "
    "or a base58 seed of 32 bytes"
)
# A base58 string of 64 bytes is at most 88 characters; anything much longer is not a key.
_MAX_SECRET_INPUT = 1024


@dataclass(frozen=True)
class Challenge:
    """An ownership-proof message waiting for the wallet's signature."""

    message: str
    expires_at: datetime


def _secret_error(detail: str) -> ValidationFailed:
    message = f"{detail} Accepted formats: {ACCEPTED_IMPORT_FORMATS}."
    return ValidationFailed(message, code="invalid_secret_key", fields={"secret_key": [message]})


def parse_secret_key(text: str) -> Keypair:
    """A keypair from what a user pasted: base58 64-byte key, JSON array of 64 ints, or base58
    32-byte seed. A 64-byte key whose public half does not belong to its secret half is refused:
    importing it would show one address and sign for another."""
    text = (text or "").strip()
    if not text:
        raise _secret_error("Enter a secret key.")
    if len(text) > _MAX_SECRET_INPUT:
        raise _secret_error("That is far too long to be a secret key.")
    if text.startswith("["):
        try:
            numbers = json.loads(text)
        except ValueError:
            raise _secret_error("That looks like a JSON array but is not valid JSON.") from None
        if not isinstance(numbers, list) or not all(
            type(n) is int and 0 <= n <= 255 for n in numbers
        ):
            raise _secret_error("A JSON key must be an array of numbers from 0 to 255.")
        if len(numbers) != 64:
            raise _secret_error(f"A JSON key must have 64 numbers; this one has {len(numbers)}.")
        raw = bytes(numbers)
    else:
        try:
            raw = b58decode(text)
        except ValueError:
            raise _secret_error("That is not valid base58 (or a JSON array).") from None
        if len(raw) == 32:
            return Keypair.from_seed(raw)
        if len(raw) != 64:
            raise _secret_error(f"It decodes to {len(raw)} bytes; a key has 64 (or a seed 32).")
    try:
        return Keypair.from_bytes(raw)
    except ValueError:
        # solders checks that the public half is the one derived from the secret half.
        raise ValidationFailed(
            "The public half of this 64-byte key does not match its secret half; "
            "the key is corrupted or was put together from two keys.",
            code="mismatched_secret_key",
            fields={"secret_key": ["The public half of this key does not match its secret half."]},
        ) from None


def parse_address(text: str, *, field: str = "address") -> Pubkey:
    """A wallet address: base58 of exactly 32 bytes, on the ed25519 curve. An off-curve address
    (a program-derived address) has no private key, so it can never sign for itself: it can be
    neither funded-and-spent by us nor prove ownership, and is refused as a wallet."""
    text = (text or "").strip()
    if not text:
        raise _address_error(field, "Enter an address.")
    try:
        raw = b58decode(text)
    except ValueError:
        raise _address_error(field, "That is not a valid base58 address.") from None
    if len(raw) != 32:
        raise _address_error(
            field, f"A Solana address is 32 bytes; this one decodes to {len(raw)} bytes."
        )
    pubkey = Pubkey.from_bytes(raw)
    if not pubkey.is_on_curve():
        raise _address_error(
            field,
            "This address is off the ed25519 curve (a program-derived address): no private key "
            "can sign for it, so it cannot be used as a wallet.",
        )
    return pubkey


def _address_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code="invalid_address", fields={field: [message]})
