import json

import pytest
from solders.keypair import Keypair

from apps.chain.b58 import b58decode, b58encode
from apps.core.amounts import format_amount, format_sol
from apps.core.errors import ValidationFailed
from apps.wallets.domain import (
    parse_address,
    parse_secret_key,
)
from tests.support.wallets import OFF_CURVE


def test_it_reads_the_three_import_formats(keypair):
    raw = bytes(keypair)
    assert parse_secret_key(str(keypair)).pubkey() == keypair.pubkey()
    assert parse_secret_key(json.dumps(list(raw))).pubkey() == keypair.pubkey()
    assert parse_secret_key(f"  {b58encode(keypair.secret())}\n").pubkey() == keypair.pubkey()


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "Enter a secret key."),
        ("0OIl-not-base58", "That is not valid base58 (or a JSON array)."),
        (b58encode(bytes(range(1, 49))), "It decodes to 48 bytes; a key has 64 (or a seed 32)."),
        ("[1, 2, 3", "That looks like a JSON array but is not valid JSON."),
        (json.dumps([1] * 63), "A JSON key must have 64 numbers; this one has 63."),
        (json.dumps([256] * 64), "A JSON key must be an array of numbers from 0 to 255."),
        ("x" * 2000, "That is far too long to be a secret key."),
    ],
)
def test_it_explains_which_formats_are_accepted(text, detail):
    with pytest.raises(ValidationFailed) as caught:
        parse_secret_key(text)

    assert caught.value.message.startswith(detail + " Accepted formats: a base58 secret key")
    assert "JSON array of 64 numbers" in caught.value.message
    assert caught.value.fields == {"secret_key": [caught.value.message]}


def test_it_refuses_a_key_whose_public_half_is_another_keys(keypair):
    mismatched = keypair.secret() + bytes(Keypair().pubkey())

    with pytest.raises(ValidationFailed, match="public half of this 64-byte key does not match"):
        parse_secret_key(b58encode(mismatched))


def test_it_never_echoes_the_input_in_an_error(keypair):
    almost = str(keypair)[:-1] + "0"  # one character off: still a secret

    with pytest.raises(ValidationFailed) as caught:
        parse_secret_key(almost)

    assert almost[:20] not in str(caught.value)
    assert almost[:20] not in repr(caught.value.fields)


def test_it_validates_addresses(keypair):
    assert str(parse_address(f" {keypair.pubkey()} ")) == str(keypair.pubkey())
    for text, message in [
        ("", "Enter an address."),
        ("not-an-address!", "That is not a valid base58 address."),
        (b58encode(b"\x01" * 31), "this one decodes to 31 bytes"),
        (OFF_CURVE, "off the ed25519 curve"),
    ]:
        with pytest.raises(ValidationFailed, match=message):
            parse_address(text)


def test_it_round_trips_base58_with_leading_zeros():
    for data in [b"", b"\x00", b"\x00\x00\x01", bytes(range(64))]:
        assert b58decode(b58encode(data)) == data
    assert b58encode(b"\x00\x00\x01") == "112"


def test_it_shows_amounts_without_floats():
    assert format_sol(1) == "0.000000001"
    assert format_sol(12_345_000_000_000) == "12345.000000000"
    assert format_amount(18_446_744_073_709_551_615, 6) == "18446744073709.551615"
    assert format_amount(5, 0) == "5"
