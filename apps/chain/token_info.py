"""What an address is on chain, and an SPL mint's facts and metadata.

Pure decoders written from the published layouts:
- SPL Token mint: 82 bytes (decoded by `apps.chain.spl`); a token account is 165 bytes.
- Token-2022 adds extensions after byte 165: one account-type byte (1 mint, 2 account), then
  TLV entries (u16 type, u16 length, value). Type 19 is the TokenMetadata extension:
  update authority (32), mint (32), then Borsh strings name, symbol, uri.
- Metaplex Token Metadata: decoded by `apps.chain.metaplex`.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from apps.chain import metaplex, spl
from apps.chain.constants import (
    METAPLEX_METADATA_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from apps.chain.spl import MINT_LEN, TOKEN_ACCOUNT_LEN

_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2
_EXTENSION_TOKEN_METADATA = 19


class AccountKind(enum.StrEnum):
    MINT = "mint"
    TOKEN_ACCOUNT = "token_account"  # noqa: S105 (not a secret)
    WALLET = "wallet"
    PROGRAM = "program"
    OTHER = "other"


@dataclass(frozen=True)
class MintMetadata:
    name: str
    symbol: str
    uri: str
    source: str  # "metaplex" or "token2022"


@dataclass(frozen=True)
class MintInfo:
    address: Pubkey
    program: str  # "spl" or "token2022"
    decimals: int
    supply: int
    mint_authority: Pubkey | None
    freeze_authority: Pubkey | None
    metadata: MintMetadata | None = None


class NotAMint(ValueError):
    """The account exists but is not a mint; `kind` says what it is."""

    def __init__(self, kind: AccountKind):
        super().__init__(f"account is a {kind.value}, not a mint")
        self.kind = kind


def classify_account(*, owner: Pubkey, data: bytes, executable: bool) -> AccountKind:
    if executable:
        return AccountKind.PROGRAM
    if owner == SYSTEM_PROGRAM_ID and not data:
        return AccountKind.WALLET
    if owner in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
        if len(data) == MINT_LEN:
            return AccountKind.MINT
        if len(data) == TOKEN_ACCOUNT_LEN:
            return AccountKind.TOKEN_ACCOUNT
        # Only Token-2022 accounts grow past 165 bytes: extensions, after an account-type byte.
        if owner == TOKEN_2022_PROGRAM_ID and len(data) > TOKEN_ACCOUNT_LEN:
            account_type = data[TOKEN_ACCOUNT_LEN]
            if account_type == _ACCOUNT_TYPE_MINT:
                return AccountKind.MINT
            if account_type == _ACCOUNT_TYPE_ACCOUNT:
                return AccountKind.TOKEN_ACCOUNT
    return AccountKind.OTHER


def decode_mint(
    *, address: Pubkey, owner: Pubkey, data: bytes, executable: bool = False
) -> MintInfo:
    """The mint's facts (no metadata yet); raises NotAMint for any other kind of account."""
    kind = classify_account(owner=owner, data=data, executable=executable)
    if kind != AccountKind.MINT:
        raise NotAMint(kind)
    base = spl.decode_mint(data)
    return MintInfo(
        address=address,
        program="spl" if owner == TOKEN_PROGRAM_ID else "token2022",
        decimals=base.decimals,
        supply=base.supply,
        mint_authority=base.mint_authority,
        freeze_authority=base.freeze_authority,
        metadata=token2022_metadata(data) if owner == TOKEN_2022_PROGRAM_ID else None,
    )


def token2022_metadata(data: bytes) -> MintMetadata | None:
    """The TokenMetadata extension of a Token-2022 mint, if it has one."""
    offset = TOKEN_ACCOUNT_LEN + 1
    while offset + 4 <= len(data):
        extension_type, length = struct.unpack_from("<HH", data, offset)
        value = data[offset + 4 : offset + 4 + length]
        if extension_type == _EXTENSION_TOKEN_METADATA:
            name, position = metaplex.read_string(value, 64)
            symbol, position = metaplex.read_string(value, position)
            uri, _ = metaplex.read_string(value, position)
            return MintMetadata(name=name, symbol=symbol, uri=uri, source="token2022")
        if extension_type == 0:  # uninitialized padding: no more extensions
            break
        offset += 4 + length
    return None


def metaplex_metadata(*, owner: Pubkey, data: bytes, mint: Pubkey) -> MintMetadata | None:
    """Name, symbol and uri from a Metaplex metadata account for `mint`, if it is one."""
    if owner != METAPLEX_METADATA_PROGRAM_ID:
        return None
    try:
        metadata = metaplex.TokenMetadata.decode(data)
    except (ValueError, struct.error):
        return None
    if metadata.mint != mint:
        return None
    return MintMetadata(
        name=metadata.name, symbol=metadata.symbol, uri=metadata.uri, source="metaplex"
    )


async def read_mint(*, rpc, mint: Pubkey) -> MintInfo | None:
    """The mint with its metadata (Token-2022 extension first, else Metaplex); None if the
    address holds no account. Raises NotAMint when the account is something else."""
    metadata_address = metaplex.metadata_address(mint)
    response = await rpc.call(
        "getMultipleAccounts", lambda c: c.get_multiple_accounts([mint, metadata_address])
    )
    account, metadata_account = response.value
    if account is None:
        return None
    info = decode_mint(
        address=mint, owner=account.owner, data=bytes(account.data), executable=account.executable
    )
    if info.metadata is None and metadata_account is not None:
        metadata = metaplex_metadata(
            owner=metadata_account.owner, data=bytes(metadata_account.data), mint=mint
        )
        if metadata is not None:
            info = dataclasses.replace(info, metadata=metadata)
    return info


async def metadata_mints(*, rpc) -> list[tuple[Pubkey, MintMetadata]]:
    """Every mint that has a Metaplex metadata account on the cluster, by symbol: what a
    localnet seeded. One getProgramAccounts over the metadata program, so only for a local
    cluster (a public one holds millions)."""
    response = await rpc.call(
        "getProgramAccounts",
        lambda c: c.get_program_accounts(METAPLEX_METADATA_PROGRAM_ID, encoding="base64"),
    )
    found = []
    for keyed in response.value:
        try:
            metadata = metaplex.TokenMetadata.decode(bytes(keyed.account.data))
        except (ValueError, struct.error):
            continue
        found.append(
            (metadata.mint, MintMetadata(name=metadata.name, symbol=metadata.symbol,
                                         uri=metadata.uri, source="metaplex"))
        )  # fmt: skip
    return sorted(found, key=lambda item: (item[1].symbol, str(item[0])))
