"""Raydium AMM v4 (constant product, program 675kPX9M…).

Written from the Raydium AMM program source (`state.rs`, `instruction.rs`, `processor.rs`,
`math.rs`) and checked against the program's own binary in the localnet: the 752-byte
`AmmInfo` layout, `swap_base_in` (tag 9, amount_in u64, minimum_amount_out u64) with its
17-account list (18 with the optional target-orders account), the swap fee
`ceil(amount_in * 25 / 10000)` and the floor constant-product output. Reserves are the vault
balances less `need_take_pnl`.

The program no longer reads the OpenBook accounts `swap_base_in` names. Pools created with the
19-account `initialize2` have no market (`market_program` is the default key, `market` only
seeded the pool's address): their swap names the pool itself in those positions. Older pools
keep their OpenBook market, whose accounts are read from the market (serum `MarketState`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import (
    RAYDIUM_AMM_V4_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex.base import (
    DexAdapter,
    PoolRef,
    Quote,
    Side,
    limit_or_min_out,
    load_with_linked,
    sol_buy_instructions,
    sol_paired_accounts,
    sol_sell_instructions,
)
from apps.chain.errors import DexError
from apps.chain.spl import (
    ata_address,
    create_ata_idempotent,
    decode_token_account,
)

PROGRAM_ID = RAYDIUM_AMM_V4_PROGRAM_ID
AUTHORITY_SEED = b"amm authority"
AMM_INFO_LEN = 752
COIN_MINT_OFFSET = 400
PC_MINT_OFFSET = 432
MARKET_STATE_LEN = 388
SWAP_BASE_IN_TAG = 9

# AmmStatus values that allow swapping: Initialized, SwapOnly, WaitingTrade.
SWAPPABLE_STATUSES = frozenset({1, 6, 7})
STATUS_SWAP_ONLY = 6

# AmmError codes (their position in the program's error enum).
ERR_INVALID_PROGRAM_ADDRESS = 1
ERR_EXPECTED_ACCOUNT = 3
ERR_INVALID_COIN_VAULT = 4
ERR_INVALID_PC_VAULT = 5
ERR_INVALID_OPEN_ORDERS = 10
ERR_INVALID_MARKET = 11
ERR_INVALID_SIGN_ACCOUNT = 21
ERR_INVALID_STATUS = 22
ERR_INVALID_INSTRUCTION = 23
ERR_WRONG_ACCOUNTS_NUMBER = 24
ERR_INVALID_AMM_ACCOUNT_OWNER = 27
ERR_INVALID_INPUT = 29
ERR_EXCEEDED_SLIPPAGE = 30
ERR_INSUFFICIENT_FUNDS = 40
ERR_INVALID_USER_TOKEN = 42

# Byte offsets inside AmmInfo (16 u64 header, Fees at 128, StateData at 192, keys from 336).
_HEADER = struct.Struct("<16Q")
_FEES = struct.Struct("<8Q")
_FEES_AT = 128
_STATE_DATA_AT = 192
_KEYS_AT = 336
_KEY_NAMES = (
    "coin_vault",
    "pc_vault",
    "coin_mint",
    "pc_mint",
    "lp_mint",
    "open_orders",
    "market",
    "market_program",
    "target_orders",
)
_AMM_OWNER_AT = 688
_TAIL = struct.Struct("<4Q")  # lp_amount, client_order_id, recent_epoch, padding2


def authority_address(nonce: int) -> Pubkey:
    """The pool authority PDA: create_program_address(["amm authority", [nonce]])."""
    return Pubkey.create_program_address([AUTHORITY_SEED, bytes([nonce])], PROGRAM_ID)


@dataclass(frozen=True)
class AmmInfo:
    """The fields of Raydium's `AmmInfo` this platform reads or seeds."""

    status: int
    nonce: int
    coin_decimals: int
    pc_decimals: int
    coin_vault: Pubkey
    pc_vault: Pubkey
    coin_mint: Pubkey
    pc_mint: Pubkey
    lp_mint: Pubkey
    open_orders: Pubkey
    market: Pubkey
    market_program: Pubkey
    target_orders: Pubkey
    amm_owner: Pubkey
    trade_fee_numerator: int = 25
    trade_fee_denominator: int = 10_000
    swap_fee_numerator: int = 25
    swap_fee_denominator: int = 10_000
    need_take_pnl_coin: int = 0
    need_take_pnl_pc: int = 0
    lp_amount: int = 0

    @classmethod
    def decode(cls, data: bytes) -> AmmInfo:
        if len(data) != AMM_INFO_LEN:
            raise DexError(f"AmmInfo is {AMM_INFO_LEN} bytes, got {len(data)}")
        header = _HEADER.unpack_from(data, 0)
        fees = _FEES.unpack_from(data, _FEES_AT)
        need_coin, need_pc = struct.unpack_from("<2Q", data, _STATE_DATA_AT)
        keys = {
            name: Pubkey.from_bytes(data[_KEYS_AT + 32 * i : _KEYS_AT + 32 * (i + 1)])
            for i, name in enumerate(_KEY_NAMES)
        }
        (lp_amount,) = struct.unpack_from("<Q", data, _AMM_OWNER_AT + 32)
        return cls(
            status=header[0],
            nonce=header[1],
            coin_decimals=header[4],
            pc_decimals=header[5],
            trade_fee_numerator=fees[2],
            trade_fee_denominator=fees[3],
            swap_fee_numerator=fees[6],
            swap_fee_denominator=fees[7],
            need_take_pnl_coin=need_coin,
            need_take_pnl_pc=need_pc,
            amm_owner=Pubkey.from_bytes(data[_AMM_OWNER_AT : _AMM_OWNER_AT + 32]),
            lp_amount=lp_amount,
            **keys,
        )

    def encode(self) -> bytes:
        """Serialize with the defaults `AmmInfo::initialize` writes for the fields not kept here."""
        buf = bytearray(AMM_INFO_LEN)
        sys_decimal_value = 10 ** max(self.coin_decimals, self.pc_decimals)
        _HEADER.pack_into(
            buf,
            0,
            self.status,
            self.nonce,
            7,  # order_num
            3,  # depth
            self.coin_decimals,
            self.pc_decimals,
            1,  # state: IdleState
            1,  # reset_flag: ResetNo
            0,  # min_size
            500,  # vol_max_cut_ratio
            sys_decimal_value * 5 // 1000,  # amount_wave
            0,
            0,
            1,  # min_price_multiplier
            1_000_000_000,  # max_price_multiplier
            sys_decimal_value,
        )
        _FEES.pack_into(
            buf,
            _FEES_AT,
            5,
            10_000,
            self.trade_fee_numerator,
            self.trade_fee_denominator,
            12,
            100,
            self.swap_fee_numerator,
            self.swap_fee_denominator,
        )
        struct.pack_into("<2Q", buf, _STATE_DATA_AT, self.need_take_pnl_coin, self.need_take_pnl_pc)
        for i, name in enumerate(_KEY_NAMES):
            buf[_KEYS_AT + 32 * i : _KEYS_AT + 32 * (i + 1)] = bytes(getattr(self, name))
        buf[_AMM_OWNER_AT : _AMM_OWNER_AT + 32] = bytes(self.amm_owner)
        _TAIL.pack_into(buf, _AMM_OWNER_AT + 32, self.lp_amount, 0, 0, 0)
        return bytes(buf)


@dataclass(frozen=True)
class MarketState:
    """The OpenBook (serum v3) market fields `swap_base_in` names."""

    address: Pubkey
    vault_signer_nonce: int
    base_mint: Pubkey
    quote_mint: Pubkey
    base_vault: Pubkey
    quote_vault: Pubkey
    event_queue: Pubkey
    bids: Pubkey
    asks: Pubkey
    request_queue: Pubkey = field(default_factory=Pubkey.default)

    _KEYS: ClassVar[dict[str, int]] = {
        "base_mint": 53,
        "quote_mint": 85,
        "base_vault": 117,
        "quote_vault": 165,
        "request_queue": 221,
        "event_queue": 253,
        "bids": 285,
        "asks": 317,
    }

    @classmethod
    def decode(cls, *, address: Pubkey, data: bytes) -> MarketState:
        if len(data) < MARKET_STATE_LEN:
            raise DexError("market account too short for a serum MarketState")
        (nonce,) = struct.unpack_from("<Q", data, 45)
        keys = {k: Pubkey.from_bytes(data[o : o + 32]) for k, o in cls._KEYS.items()}
        return cls(address=address, vault_signer_nonce=nonce, **keys)

    def encode(self) -> bytes:
        buf = bytearray(MARKET_STATE_LEN)
        buf[0:5] = b"serum"
        struct.pack_into("<Q", buf, 5, 0b11)  # account flags: Initialized | Market
        buf[13:45] = bytes(self.address)
        struct.pack_into("<Q", buf, 45, self.vault_signer_nonce)
        for k, o in self._KEYS.items():
            buf[o : o + 32] = bytes(getattr(self, k))
        buf[381:388] = b"padding"
        return bytes(buf)

    def vault_signer(self, market_program: Pubkey) -> Pubkey:
        return Pubkey.create_program_address(
            [bytes(self.address), struct.pack("<Q", self.vault_signer_nonce)], market_program
        )


# Pool address → the accounts its state needs besides itself (coin vault, pc vault and, for a
# pool with an OpenBook market, the market): fixed when an AMM is created, so a process learns
# them once per pool (see RaydiumAmmV4.load_state).
_LINKED_ACCOUNTS: dict[Pubkey, tuple[Pubkey, ...]] = {}


def has_openbook_market(amm: AmmInfo) -> bool:
    """False for pools created without a market (19-account `initialize2`)."""
    return amm.market_program != Pubkey.default()


def _linked(amm: AmmInfo) -> tuple[Pubkey, ...]:
    vaults = (amm.coin_vault, amm.pc_vault)
    return (*vaults, amm.market) if has_openbook_market(amm) else vaults


def swap_fee(*, amount_in: int, numerator: int, denominator: int) -> int:
    """Raydium's fee: `amount_in * num` ceil-divided by `den` (plain ceiling, as the program's
    `CheckedCeilDiv` has computed it since 2025-08; before, a fee under half a unit was 0)."""
    return -(-amount_in * numerator // denominator)


def swap_amount_out(*, amount_in_after_fee: int, reserve_in: int, reserve_out: int) -> int:
    """Constant product, rounded down: out = reserve_out * in / (reserve_in + in)."""
    return reserve_out * amount_in_after_fee // (reserve_in + amount_in_after_fee)


@dataclass(frozen=True)
class SwapKeys:
    """Every account of `swap_base_in` in the program's order."""

    amm: Pubkey
    authority: Pubkey
    open_orders: Pubkey
    target_orders: Pubkey
    coin_vault: Pubkey
    pc_vault: Pubkey
    market_program: Pubkey
    market: Pubkey
    bids: Pubkey
    asks: Pubkey
    event_queue: Pubkey
    market_coin_vault: Pubkey
    market_pc_vault: Pubkey
    market_vault_signer: Pubkey
    user_source: Pubkey
    user_destination: Pubkey
    user_owner: Pubkey


def swap_base_in_instruction(
    *, keys: SwapKeys, amount_in: int, minimum_amount_out: int, with_target_orders: bool = False
) -> Instruction:
    """`swap_base_in`: 17 accounts, or 18 with the (no longer read) target-orders account."""
    metas = [
        AccountMeta(TOKEN_PROGRAM_ID, is_signer=False, is_writable=False),
        AccountMeta(keys.amm, is_signer=False, is_writable=True),
        AccountMeta(keys.authority, is_signer=False, is_writable=False),
        AccountMeta(keys.open_orders, is_signer=False, is_writable=True),
    ]
    if with_target_orders:
        metas.append(AccountMeta(keys.target_orders, is_signer=False, is_writable=True))
    metas += [
        AccountMeta(keys.coin_vault, is_signer=False, is_writable=True),
        AccountMeta(keys.pc_vault, is_signer=False, is_writable=True),
        AccountMeta(keys.market_program, is_signer=False, is_writable=False),
        AccountMeta(keys.market, is_signer=False, is_writable=True),
        AccountMeta(keys.bids, is_signer=False, is_writable=True),
        AccountMeta(keys.asks, is_signer=False, is_writable=True),
        AccountMeta(keys.event_queue, is_signer=False, is_writable=True),
        AccountMeta(keys.market_coin_vault, is_signer=False, is_writable=True),
        AccountMeta(keys.market_pc_vault, is_signer=False, is_writable=True),
        AccountMeta(keys.market_vault_signer, is_signer=False, is_writable=False),
        AccountMeta(keys.user_source, is_signer=False, is_writable=True),
        AccountMeta(keys.user_destination, is_signer=False, is_writable=True),
        AccountMeta(keys.user_owner, is_signer=True, is_writable=False),
    ]
    data = struct.pack("<BQQ", SWAP_BASE_IN_TAG, amount_in, minimum_amount_out)
    return Instruction(PROGRAM_ID, data, metas)


@dataclass(frozen=True)
class RaydiumPoolState:
    """A pool, its OpenBook market (None for a pool created without one) and current
    reserves (vault balances less pending PnL)."""

    address: Pubkey
    amm: AmmInfo
    market: MarketState | None
    coin_reserve: int
    pc_reserve: int

    @property
    def token_mint(self) -> Pubkey:
        return self.amm.pc_mint if self.amm.coin_mint == WSOL_MINT else self.amm.coin_mint

    @property
    def sol_is_coin(self) -> bool:
        return self.amm.coin_mint == WSOL_MINT


class RaydiumAmmV4(DexAdapter):
    name = "raydium_amm_v4"
    program_id = PROGRAM_ID

    async def find_pools(self, *, rpc, mint: Pubkey) -> list[PoolRef]:
        """getProgramAccounts with dataSize 752 and the mint at the coin or the pc offset."""
        found = await sol_paired_accounts(
            rpc=rpc,
            program_id=PROGRAM_ID,
            size=AMM_INFO_LEN,
            mint=mint,
            offsets=(COIN_MINT_OFFSET, PC_MINT_OFFSET),
        )
        amms = [(address, AmmInfo.decode(data)) for address, data in found]
        return [
            PoolRef(dex=self.name, address=address, base_mint=amm.coin_mint, quote_mint=amm.pc_mint)
            for address, amm in amms
        ]

    def decode(self, *, address: Pubkey, data: bytes) -> AmmInfo:
        return AmmInfo.decode(data)

    async def load_state(self, *, rpc, address: Pubkey) -> RaydiumPoolState:
        # An AMM's market and vaults never change: once known, the pool and the accounts its
        # state needs are one getMultipleAccounts (read together, so they agree on the slot).
        amm, linked, accounts = await load_with_linked(
            rpc=rpc,
            address=address,
            program_id=PROGRAM_ID,
            cache=_LINKED_ACCOUNTS,
            decode=AmmInfo.decode,
            linked_of=_linked,
            not_found=f"no Raydium AMM v4 pool at {address}",
            changed=f"pool {address} changed its market or vaults; load it again",
        )
        coin_acc, pc_acc, *market_acc = accounts
        if coin_acc is None or pc_acc is None:
            raise DexError(f"pool {address} is missing its vault accounts")
        market = None
        if market_acc:
            if market_acc[0] is None:
                raise DexError(f"pool {address} is missing its OpenBook market {amm.market}")
            market = MarketState.decode(address=amm.market, data=bytes(market_acc[0].data))
        _LINKED_ACCOUNTS[address] = linked
        coin_amount = decode_token_account(bytes(coin_acc.data)).amount
        pc_amount = decode_token_account(bytes(pc_acc.data)).amount
        return RaydiumPoolState(
            address=address,
            amm=amm,
            market=market,
            coin_reserve=coin_amount - amm.need_take_pnl_coin,
            pc_reserve=pc_amount - amm.need_take_pnl_pc,
        )

    def quote(self, *, state: RaydiumPoolState, side: Side, amount_in: int) -> Quote:
        if state.amm.status not in SWAPPABLE_STATUSES:
            raise DexError(f"pool {state.address} does not allow swaps (status {state.amm.status})")
        sol_reserve, token_reserve = (
            (state.coin_reserve, state.pc_reserve)
            if state.sol_is_coin
            else (state.pc_reserve, state.coin_reserve)
        )
        reserve_in, reserve_out = (
            (sol_reserve, token_reserve) if side == Side.BUY else (token_reserve, sol_reserve)
        )
        fee = swap_fee(
            amount_in=amount_in,
            numerator=state.amm.swap_fee_numerator,
            denominator=state.amm.swap_fee_denominator,
        )
        out = swap_amount_out(
            amount_in_after_fee=amount_in - fee, reserve_in=reserve_in, reserve_out=reserve_out
        )
        return Quote(side=side, amount_in=amount_in, amount_out=out, fee=fee)

    def swap_keys(
        self, *, state: RaydiumPoolState, owner: Pubkey, source: Pubkey, destination: Pubkey
    ) -> SwapKeys:
        """The 17 accounts of `swap_base_in`. Without an OpenBook market the program reads
        none of the market positions (nor open orders): they name the pool itself."""
        amm, market = state.amm, state.market
        if market is None:
            unread = state.address
            open_orders = market_program = bids = asks = event_queue = unread
            market_coin_vault = market_pc_vault = market_vault_signer = unread
        else:
            open_orders, market_program = amm.open_orders, amm.market_program
            bids, asks, event_queue = market.bids, market.asks, market.event_queue
            market_coin_vault, market_pc_vault = market.base_vault, market.quote_vault
            market_vault_signer = market.vault_signer(amm.market_program)
        return SwapKeys(
            amm=state.address,
            authority=authority_address(amm.nonce),
            open_orders=open_orders,
            target_orders=amm.target_orders,
            coin_vault=amm.coin_vault,
            pc_vault=amm.pc_vault,
            market_program=market_program,
            market=amm.market,
            bids=bids,
            asks=asks,
            event_queue=event_queue,
            market_coin_vault=market_coin_vault,
            market_pc_vault=market_pc_vault,
            market_vault_signer=market_vault_signer,
            user_source=source,
            user_destination=destination,
            user_owner=owner,
        )

    def _swap(
        self,
        *,
        state: RaydiumPoolState,
        owner: Pubkey,
        side: Side,
        quote: Quote,
        slippage_bps: int,
        limit: int | None,
    ) -> Instruction:
        """`swap_base_in` of the quote between the owner's WSOL and token ATAs."""
        wsol = ata_address(owner=owner, mint=WSOL_MINT)
        token_ata = ata_address(owner=owner, mint=state.token_mint)
        source, destination = (wsol, token_ata) if side == Side.BUY else (token_ata, wsol)
        keys = self.swap_keys(state=state, owner=owner, source=source, destination=destination)
        return swap_base_in_instruction(
            keys=keys,
            amount_in=quote.amount_in,
            minimum_amount_out=limit_or_min_out(
                quote=quote, slippage_bps=slippage_bps, limit=limit
            ),
        )

    def build_buy(
        self,
        *,
        state: RaydiumPoolState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Wrap SOL, swap WSOL → token into the owner's ATA, close the WSOL account."""
        return sol_buy_instructions(
            owner=owner,
            lamports=quote.amount_in,
            token_ata=create_ata_idempotent(payer=owner, owner=owner, mint=state.token_mint),
            swap=self._swap(
                state=state,
                owner=owner,
                side=Side.BUY,
                quote=quote,
                slippage_bps=slippage_bps,
                limit=limit,
            ),
        )

    def build_sell(
        self,
        *,
        state: RaydiumPoolState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Swap token → WSOL into a fresh WSOL ATA, then close it so the owner holds SOL."""
        return sol_sell_instructions(
            owner=owner,
            swap=self._swap(
                state=state,
                owner=owner,
                side=Side.SELL,
                quote=quote,
                slippage_bps=slippage_bps,
                limit=limit,
            ),
        )
