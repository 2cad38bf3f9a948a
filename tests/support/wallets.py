"""Wallet test helpers: a key in every form it could leak in, the check that none did, an
address off the ed25519 curve, a second master key, and a campaign funded by a given wallet."""

import base64
import json

from solders.keypair import Keypair

from apps.chain.b58 import b58encode
from tests.support.campaigns import Setup, make_campaign

KEK2 = base64.b64encode(b"k" * 32).decode()
# A program-derived address: off the ed25519 curve (the ATA of the wrapped-SOL mint).
OFF_CURVE = "5o9nTwSiofKC5DnLiv2gsjPYmGNgh2hAjieyAzyUuwi2"


def secret_forms(keypair: Keypair) -> dict[str, str | bytes]:
    """Every way a key could leak: base58, hex and raw bytes of the 64-byte key and of the
    32-byte seed, and the Solana CLI JSON array (spaced and compact)."""
    raw = bytes(keypair)
    seed = keypair.secret()
    return {
        "base58": str(keypair),
        "seed_base58": b58encode(seed),
        "hex": raw.hex(),
        "seed_hex": seed.hex(),
        "json": json.dumps(list(raw)),
        "json_compact": json.dumps(list(raw), separators=(",", ":")),
        "raw": raw,
        "seed_raw": seed,
    }


def assert_no_secret(text: str | bytes, keypair: Keypair) -> None:
    for name, form in secret_forms(keypair).items():
        if isinstance(text, str) and isinstance(form, bytes):
            continue
        if isinstance(text, bytes) and isinstance(form, str):
            form = form.encode()
        assert form not in text, f"the secret key leaked ({name})"
        if isinstance(text, str) and name in ("hex", "seed_hex"):
            assert form.upper() not in text, f"the secret key leaked ({name}, upper case)"


IN_USE_MESSAGE = (
    "A campaign uses this wallet or it has trading history, so it cannot be deleted. "
    "Deactivate it instead."
)


def campaign_funded_by(wallet):
    """An active campaign (with its run) whose funding wallet is `wallet`."""
    setup = Setup(wallet.owner)
    setup.wallet = wallet
    return make_campaign(setup, status="active")
