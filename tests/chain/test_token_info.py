"""Mint classification and metadata decoding, on bytes built from the published layouts."""

import struct

from solders.pubkey import Pubkey
from solders.token.state import Mint

from apps.chain.constants import SYSTEM_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from apps.chain.token_info import AccountKind, MintMetadata, classify_account, decode_mint

MINT = Pubkey.from_string("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU")
AUTHORITY = Pubkey.from_string("4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R")


def borsh(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<I", len(raw)) + raw


def base_mint(decimals: int = 9, supply: int = 123) -> bytes:
    return bytes(
        Mint(mint_authority=AUTHORITY, supply=supply, decimals=decimals, is_initialized=True)
    )


def token2022_mint_with_metadata(name: str, symbol: str, uri: str) -> bytes:
    # Base mint padded to the token-account length, the account type (1 = mint), then TLV
    # entries: type 19 is TokenMetadata (update authority, mint, name, symbol, uri, extras).
    value = bytes(AUTHORITY) + bytes(MINT) + borsh(name) + borsh(symbol) + borsh(uri)
    value += struct.pack("<I", 0)  # no additional metadata
    metadata_pointer = struct.pack("<HH", 18, 64) + bytes(AUTHORITY) + bytes(MINT)
    metadata = struct.pack("<HH", 19, len(value)) + value
    return base_mint().ljust(165, b"\0") + bytes([1]) + metadata_pointer + metadata


def test_it_classifies_accounts_by_owner_and_layout():
    assert classify_account(owner=SYSTEM_PROGRAM_ID, data=b"", executable=False) == "wallet"
    assert classify_account(owner=TOKEN_PROGRAM_ID, data=base_mint(), executable=False) == "mint"
    assert classify_account(owner=TOKEN_PROGRAM_ID, data=bytes(165), executable=False) == (
        AccountKind.TOKEN_ACCOUNT
    )
    extended_account = bytes(165) + bytes([2]) + bytes(8)
    assert classify_account(
        owner=TOKEN_2022_PROGRAM_ID, data=extended_account, executable=False
    ) == (AccountKind.TOKEN_ACCOUNT)
    assert classify_account(owner=TOKEN_PROGRAM_ID, data=b"", executable=True) == "program"
    assert classify_account(owner=AUTHORITY, data=bytes(10), executable=False) == "other"


def test_it_reads_the_token_2022_metadata_extension():
    data = token2022_mint_with_metadata("Twenty Two", "T22", "https://example.com/t22.json")

    info = decode_mint(address=MINT, owner=TOKEN_2022_PROGRAM_ID, data=data)

    assert info.program == "token2022"
    assert (info.decimals, info.supply, info.mint_authority) == (9, 123, AUTHORITY)
    assert info.freeze_authority is None
    assert info.metadata == MintMetadata(
        name="Twenty Two", symbol="T22", uri="https://example.com/t22.json", source="token2022"
    )


def test_it_reads_a_plain_spl_mint_without_metadata():
    info = decode_mint(address=MINT, owner=TOKEN_PROGRAM_ID, data=base_mint(decimals=6))

    assert (info.program, info.decimals, info.metadata) == ("spl", 6, None)
