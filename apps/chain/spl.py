"""SPL Token / ATA / wrapped-SOL instructions and account helpers.

Encoders are written from the SPL Token instruction layout (one tag byte, then little-endian
fields) so the same bytes work for Token and Token-2022.
"""

from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount

from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)

TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
# Rent-exempt minimum of a 165-byte token account (and so the rent a created ATA costs).
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280

_TRANSFER = 3
_APPROVE = 4
_CLOSE_ACCOUNT = 9
_TRANSFER_CHECKED = 12
_SYNC_NATIVE = 17
_ATA_CREATE_IDEMPOTENT = 1


def ata_address(*, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
    """Associated token account of `owner` for `mint`."""
    return get_associated_token_address(owner, mint, token_program)


def sol_transfer(*, source: Pubkey, destination: Pubkey, lamports: int) -> Instruction:
    """System transfer of `lamports` (the source signs)."""
    return transfer(TransferParams(from_pubkey=source, to_pubkey=destination, lamports=lamports))


def create_ata_idempotent(
    *, payer: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    """Create the ATA unless it exists (the payer funds its rent)."""
    return Instruction(
        ASSOCIATED_TOKEN_PROGRAM_ID,
        bytes([_ATA_CREATE_IDEMPOTENT]),
        [
            AccountMeta(payer, is_signer=True, is_writable=True),
            AccountMeta(
                ata_address(owner=owner, mint=mint, token_program=token_program),
                is_signer=False,
                is_writable=True,
            ),
            AccountMeta(owner, is_signer=False, is_writable=False),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
            AccountMeta(token_program, is_signer=False, is_writable=False),
        ],
    )


def transfer_checked(
    *,
    source: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """TransferChecked: tag 12, amount u64, decimals u8."""
    return Instruction(
        token_program,
        struct.pack("<BQB", _TRANSFER_CHECKED, amount, decimals),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(mint, is_signer=False, is_writable=False),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
        ],
    )


def token_transfer(
    *,
    source: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Transfer: tag 3, amount u64."""
    return Instruction(
        token_program,
        struct.pack("<BQ", _TRANSFER, amount),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
        ],
    )


def close_account(
    *, account: Pubkey, destination: Pubkey, owner: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    """CloseAccount: tag 9; every lamport of `account` goes to `destination`."""
    return Instruction(
        token_program,
        bytes([_CLOSE_ACCOUNT]),
        [
            AccountMeta(account, is_signer=False, is_writable=True),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(owner, is_signer=True, is_writable=False),
        ],
    )


def sync_native(*, account: Pubkey) -> Instruction:
    """SyncNative: tag 17; credits lamports sent to a WSOL account as tokens."""
    return Instruction(
        TOKEN_PROGRAM_ID,
        bytes([_SYNC_NATIVE]),
        [AccountMeta(account, is_signer=False, is_writable=True)],
    )


def wrap_sol(*, owner: Pubkey, lamports: int, payer: Pubkey | None = None) -> list[Instruction]:
    """Create the owner's WSOL ATA if needed, move `lamports` into it and sync."""
    wsol_ata = ata_address(owner=owner, mint=WSOL_MINT)
    return [
        create_ata_idempotent(payer=payer or owner, owner=owner, mint=WSOL_MINT),
        sol_transfer(source=owner, destination=wsol_ata, lamports=lamports),
        sync_native(account=wsol_ata),
    ]


def unwrap_sol(*, owner: Pubkey) -> list[Instruction]:
    """Close the owner's WSOL ATA: its tokens and its rent come back as SOL."""
    return [
        close_account(
            account=ata_address(owner=owner, mint=WSOL_MINT), destination=owner, owner=owner
        )
    ]


def decode_token_account(data: bytes) -> TokenAccount:
    """Base token-account state (Token-2022 extensions after byte 165 are ignored)."""
    return TokenAccount.from_bytes(bytes(data[:TOKEN_ACCOUNT_LEN]))


def decode_mint(data: bytes) -> Mint:
    """Base mint state (Token-2022 extensions after byte 82 are ignored)."""
    return Mint.from_bytes(bytes(data[:MINT_LEN]))
