"""The interface every venue adapter implements, and the maths they share."""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from solana.rpc.models import MemcmpOpts
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, WSOL_MINT
from apps.chain.errors import DexError, PoolNotFound
from apps.chain.spl import create_ata_idempotent, unwrap_sol, wrap_sol

if TYPE_CHECKING:
    from apps.chain.rpc import RpcPool

BPS = 10_000


class Side(enum.StrEnum):
    """`buy` spends SOL for the token; `sell` spends the token for SOL."""

    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True)
class PoolRef:
    """A pool found for a mint: enough to load its state later."""

    dex: str
    address: Pubkey
    base_mint: Pubkey
    quote_mint: Pubkey


@dataclass(frozen=True)
class Quote:
    """What a swap does at the quoted state, in raw units.

    `amount_in` is what leaves the trader (lamports for a buy, raw tokens for a sell),
    `amount_out` what arrives, `fee` the venue fee (in lamports, or input units on Raydium).
    """

    side: Side
    amount_in: int
    amount_out: int
    fee: int


def min_out_with_slippage(*, amount_out: int, slippage_bps: int) -> int:
    """Lowest acceptable output for a slippage tolerance (rounded down, never negative)."""
    if not 0 <= slippage_bps <= BPS:
        raise ValueError("slippage_bps must be within 0..10000")
    return amount_out * (BPS - slippage_bps) // BPS


def limit_or_min_out(*, quote: Quote, slippage_bps: int, limit: int | None) -> int:
    """A sell's (or Raydium swap's) minimum output: `limit` when given, else the quote less
    the slippage."""
    if limit is not None:
        return limit
    return min_out_with_slippage(amount_out=quote.amount_out, slippage_bps=slippage_bps)


def max_in_with_slippage(*, amount_in: int, slippage_bps: int) -> int:
    """Highest acceptable input for a slippage tolerance (rounded down)."""
    if not 0 <= slippage_bps <= BPS:
        raise ValueError("slippage_bps must be within 0..10000")
    return amount_in * (BPS + slippage_bps) // BPS


def limit_or_max_in(*, quote: Quote, slippage_bps: int, limit: int | None) -> int:
    """A buy's maximum input (pump.fun, PumpSwap): `limit` when given, else the quote plus
    the slippage."""
    if limit is not None:
        return limit
    return max_in_with_slippage(amount_in=quote.amount_in, slippage_bps=slippage_bps)


def largest_buy(
    *, amount_in: int, first_guess: int, cost_and_fee: Callable[[int], tuple[int, int]]
) -> Quote:
    """A buy that names the tokens out: the most tokens, from `first_guess` down, whose cost
    plus fee (`cost_and_fee(tokens)`) fits the budget `amount_in`."""
    tokens = first_guess
    while tokens > 0:
        cost, fee = cost_and_fee(tokens)
        if cost + fee <= amount_in:
            return Quote(side=Side.BUY, amount_in=cost + fee, amount_out=tokens, fee=fee)
        tokens -= max(1, tokens // 1_000_000)
    raise DexError("amount too small to buy a single raw token")


def ro_meta(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=False)


def rw_meta(key: Pubkey) -> AccountMeta:
    return AccountMeta(key, is_signer=False, is_writable=True)


def check_token_mint(account: Any, *, mint: Pubkey) -> None:
    """Refuse a mint account that is missing or not owned by a token program."""
    if account is None or account.owner not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
        raise DexError(f"{mint} is not a token mint")


def sol_buy_instructions(
    *, owner: Pubkey, lamports: int, token_ata: Instruction, swap: Instruction
) -> list[Instruction]:
    """Wrap `lamports` into the owner's WSOL ATA, create the token ATA, swap, close the WSOL
    ATA (what is left of it comes back as SOL)."""
    return [*wrap_sol(owner=owner, lamports=lamports), token_ata, swap, *unwrap_sol(owner=owner)]


def sol_sell_instructions(*, owner: Pubkey, swap: Instruction) -> list[Instruction]:
    """Open the owner's WSOL ATA for the proceeds, swap, close it so the owner holds SOL."""
    return [
        create_ata_idempotent(payer=owner, owner=owner, mint=WSOL_MINT),
        swap,
        *unwrap_sol(owner=owner),
    ]


async def sol_paired_accounts(
    *,
    rpc: RpcPool,
    program_id: Pubkey,
    size: int,
    mint: Pubkey,
    offsets: tuple[int, int],
) -> list[tuple[Pubkey, bytes]]:
    """(address, data) of the `program_id` accounts of `size` bytes that hold `mint` at one
    of the two mint `offsets` and WSOL at the other (one getProgramAccounts per offset)."""
    found: list[tuple[Pubkey, bytes]] = []
    first, second = offsets
    for offset, other_offset in ((first, second), (second, first)):
        resp = await rpc.call(
            "getProgramAccounts",
            lambda c, offset=offset: c.get_program_accounts(
                program_id,
                encoding="base64",
                filters=[size, MemcmpOpts(offset=offset, bytes=str(mint))],
            ),
        )
        for keyed in resp.value:
            data = bytes(keyed.account.data)
            if Pubkey.from_bytes(data[other_offset : other_offset + 32]) == WSOL_MINT:
                found.append((keyed.pubkey, data))
    return found


async def load_with_linked(
    *,
    rpc: RpcPool,
    address: Pubkey,
    program_id: Pubkey,
    cache: dict[Pubkey, tuple[Pubkey, ...]],
    decode: Callable[[bytes], Any],
    linked_of: Callable[[Any], tuple[Pubkey, ...]],
    not_found: str,
    changed: str,
) -> tuple[Any, tuple[Pubkey, ...], list[Any]]:
    """A pool and the accounts it links to (vaults, config, market: fixed at creation), read in
    one getMultipleAccounts so they agree on the slot. Once `cache` knows the links that is
    the only call. Returns the decoded pool, its links and their accounts (None where
    missing); the caller stores the links in `cache` once it has accepted them."""
    linked = cache.get(address)
    if linked is None:
        resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
        if resp.value is None or resp.value.owner != program_id:
            raise PoolNotFound(not_found)
        linked = linked_of(decode(bytes(resp.value.data)))
    keys = [address, *linked]
    multi = await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
    pool_acc, *linked_accs = multi.value
    if pool_acc is None or pool_acc.owner != program_id:
        cache.pop(address, None)
        raise PoolNotFound(not_found)
    pool = decode(bytes(pool_acc.data))
    if linked_of(pool) != linked:
        cache.pop(address, None)
        raise DexError(changed)
    return pool, linked, linked_accs


class DexAdapter(abc.ABC):
    """One venue: discovery, decoding, quoting and instruction building.

    `state` is the venue's own decoded pool state (see `load_state`); adapters are stateless.
    `limit` overrides the slippage bound placed in the instruction: minimum output for
    sells and Raydium buys, maximum SOL cost for pump.fun buys.
    """

    name: ClassVar[str]
    program_id: ClassVar[Pubkey]

    @abc.abstractmethod
    async def find_pools(self, *, rpc: RpcPool, mint: Pubkey) -> list[PoolRef]:
        """Pools of this venue trading `mint` against SOL."""

    @abc.abstractmethod
    async def load_state(self, *, rpc: RpcPool, address: Pubkey) -> Any:
        """Fetch and decode everything a quote and a swap need."""

    @abc.abstractmethod
    def decode(self, *, address: Pubkey, data: bytes) -> Any:
        """Decode the pool account's data (the venue's on-chain layout)."""

    @abc.abstractmethod
    def quote(self, *, state: Any, side: Side, amount_in: int) -> Quote:
        """Quote a swap of `amount_in` (lamports for buys, raw tokens for sells)."""

    @abc.abstractmethod
    def build_buy(
        self,
        *,
        state: Any,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Instructions for a buy, including ATA creation and any SOL wrapping."""

    @abc.abstractmethod
    def build_sell(
        self,
        *,
        state: Any,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Instructions for a sell, including any SOL unwrapping."""
