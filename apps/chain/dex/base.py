"""The interface every venue adapter implements, and the maths they share."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from solders.instruction import Instruction
from solders.pubkey import Pubkey

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
