"""What every emulated program hands back to the rewriter (`apps.localnet.dex_emulation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount, TokenAccountState

from apps.chain.constants import TOKEN_PROGRAM_ID
from apps.chain.spl import transfer_checked


class VenueFailure(Exception):
    """The emulated program rejects the instruction with its own error `code`."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@dataclass
class Step:
    """The real instructions one emulated instruction becomes; `translate` maps an error code
    of one of them (by index) to the code the venue reports."""

    instructions: list[Instruction]
    translate: dict[int, dict[int, int]] = field(default_factory=dict)


class Overlay(Protocol):
    """The emulator's view of the cluster with its pending writes."""

    def get(self, address: Pubkey) -> Account | None: ...

    def put(self, address: Pubkey, account: Account) -> None: ...

    def delegate(self, vault: Pubkey, *, to: Pubkey, amount: int) -> None: ...

    def decimals(self, mint: Pubkey) -> int: ...

    def token_amount(self, address: Pubkey) -> int: ...

    def move(self, address: Pubkey, delta: int) -> None: ...


def escrow(ov: Overlay, *, mint: Pubkey, owner: Pubkey, lamports: int) -> Pubkey:
    """A throw-away token account of `owner` holding `lamports`, so that SOL leaving a
    program-owned account reaches its destination through a real `CloseAccount`."""
    address = Keypair().pubkey()
    state = TokenAccount(
        mint=mint,
        owner=owner,
        amount=0,
        delegate=None,
        state=TokenAccountState.Initialized,
        is_native=None,
        delegated_amount=0,
    )
    ov.put(address, Account(lamports, bytes(state), TOKEN_PROGRAM_ID))
    return address


def trader_transfer(
    ov: Overlay,
    named,
    *,
    source: Pubkey,
    destination: Pubkey,
    mint: Pubkey,
    amount: int,
    program_name: str,
) -> Instruction:
    """A `TransferChecked` signed by the trader (`named["user"]`; a venue's vault is delegated
    to it first) with the token program the instruction names `program_name`."""
    return transfer_checked(
        source=source,
        mint=mint,
        destination=destination,
        authority=named["user"].pubkey,
        amount=amount,
        decimals=ov.decimals(mint),
        token_program=named[program_name].pubkey,
    )
