"""Raydium CPMM (constant product without OpenBook, program CPMMoo8L…).

Written from the official IDL (`raydium_cp_swap.idl.json`: `PoolState`, `AmmConfig`,
`swap_base_input`, the error codes) and the program source (`curve/calculator.rs`,
`curve/fees.rs`, `states/pool.rs`), and checked against the program's own binary in the
localnet. Either side may be an SPL Token or a Token-2022 mint; mints with a transfer fee are
refused (their fee would change every amount the quote gives).

Fees, in millionths of the amount (`FEE_RATE_DENOMINATOR` 1_000_000): the trade fee is
`ceil(amount_in * trade_fee_rate / 1e6)` taken from the input. A pool with the creator fee
enabled (`enable_creator_fee`, a field the current source added in the padding the IDL still
shows) also pays `AmmConfig.creator_fee_rate`: on the input together with the trade fee (one
ceiling over the sum of the rates), or on the output (`ceil(out * rate / 1e6)`), as
`creator_fee_on` says. Reserves are the vault balances less the protocol, fund and creator fees
the pool owes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import (
    RAYDIUM_CPMM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex.anchor import discriminator
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

PROGRAM_ID = RAYDIUM_CPMM_PROGRAM_ID
AUTH_SEED = b"vault_and_lp_mint_auth_seed"
POOL_SEED = b"pool"
POOL_VAULT_SEED = b"pool_vault"
POOL_LP_MINT_SEED = b"pool_lp_mint"
OBSERVATION_SEED = b"observation"
AMM_CONFIG_SEED = b"amm_config"
# The fixed WSOL account `initialize` pays the pool-creation fee to (lib.rs).
CREATE_POOL_FEE_RECEIVER = Pubkey.from_string("DNXgeM9EiiaAbaWvwjHj9fQQLAX5ZsfHyvmYUNRAdNC8")
FEE_RATE_DENOMINATOR = 1_000_000
STATUS_SWAP_DISABLED = 1 << 2


POOL_STATE_DISCRIMINATOR = discriminator("account", "PoolState")
AMM_CONFIG_DISCRIMINATOR = discriminator("account", "AmmConfig")
SWAP_BASE_INPUT_DISCRIMINATOR = discriminator("global", "swap_base_input")
INITIALIZE_DISCRIMINATOR = discriminator("global", "initialize")

# Sizes with the 8-byte discriminator; offsets are from the account's first byte.
POOL_STATE_LEN = 637
AMM_CONFIG_LEN = 236
TOKEN_0_MINT_OFFSET = 168
TOKEN_1_MINT_OFFSET = 200
_POOL_KEYS = (
    "amm_config",
    "pool_creator",
    "token_0_vault",
    "token_1_vault",
    "lp_mint",
    "token_0_mint",
    "token_1_mint",
    "token_0_program",
    "token_1_program",
    "observation_key",
)
_POOL_SCALARS = struct.Struct("<5B7Q2B6x2Q")  # auth_bump … recent_epoch, creator fee fields
_POOL_SCALARS_AT = 8 + 32 * len(_POOL_KEYS)
_CONFIG = struct.Struct("<B?H4Q32s32sQ")  # bump … fund_owner, creator_fee_rate

# Anchor error codes (error.rs / the IDL's "errors").
ERR_NOT_APPROVED = 6000
ERR_EXCEEDED_SLIPPAGE = 6005
ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS = 3005

# Creator fee modes (`creator_fee_on`).
CREATOR_FEE_ON_BOTH = 0
CREATOR_FEE_ON_TOKEN_0 = 1
CREATOR_FEE_ON_TOKEN_1 = 2

# Token-2022 mint extensions: TLV entries after the account-type byte at offset 165.
_EXTENSIONS_AT = 166
_TRANSFER_FEE_CONFIG = 1


def authority_address() -> Pubkey:
    return Pubkey.find_program_address([AUTH_SEED], PROGRAM_ID)[0]


def amm_config_address(index: int) -> Pubkey:
    return Pubkey.find_program_address([AMM_CONFIG_SEED, struct.pack(">H", index)], PROGRAM_ID)[0]


def pool_address(*, amm_config: Pubkey, token_0_mint: Pubkey, token_1_mint: Pubkey) -> Pubkey:
    seeds = [POOL_SEED, bytes(amm_config), bytes(token_0_mint), bytes(token_1_mint)]
    return Pubkey.find_program_address(seeds, PROGRAM_ID)[0]


def vault_address(*, pool: Pubkey, mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([POOL_VAULT_SEED, bytes(pool), bytes(mint)], PROGRAM_ID)[0]


def lp_mint_address(pool: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([POOL_LP_MINT_SEED, bytes(pool)], PROGRAM_ID)[0]


def observation_address(pool: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([OBSERVATION_SEED, bytes(pool)], PROGRAM_ID)[0]


@dataclass(frozen=True)
class AmmConfig:
    """The pool's fee configuration (rates in millionths)."""

    bump: int
    disable_create_pool: bool
    index: int
    trade_fee_rate: int
    protocol_fee_rate: int
    fund_fee_rate: int
    create_pool_fee: int
    protocol_owner: Pubkey
    fund_owner: Pubkey
    creator_fee_rate: int = 0

    @classmethod
    def decode(cls, data: bytes) -> AmmConfig:
        if len(data) != AMM_CONFIG_LEN or data[:8] != AMM_CONFIG_DISCRIMINATOR:
            raise DexError("not a Raydium CPMM AmmConfig account")
        fields = list(_CONFIG.unpack_from(data, 8))
        fields[7], fields[8] = Pubkey.from_bytes(fields[7]), Pubkey.from_bytes(fields[8])
        return cls(*fields)

    def encode(self) -> bytes:
        body = _CONFIG.pack(
            self.bump, self.disable_create_pool, self.index, self.trade_fee_rate,
            self.protocol_fee_rate, self.fund_fee_rate, self.create_pool_fee,
            bytes(self.protocol_owner), bytes(self.fund_owner), self.creator_fee_rate,
        )  # fmt: skip
        return (AMM_CONFIG_DISCRIMINATOR + body).ljust(AMM_CONFIG_LEN, b"\0")


@dataclass(frozen=True)
class PoolState:
    """A CPMM pool account (token_0_mint < token_1_mint, as `initialize` requires)."""

    amm_config: Pubkey
    pool_creator: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    lp_mint: Pubkey
    token_0_mint: Pubkey
    token_1_mint: Pubkey
    token_0_program: Pubkey
    token_1_program: Pubkey
    observation_key: Pubkey
    auth_bump: int
    status: int
    lp_mint_decimals: int
    mint_0_decimals: int
    mint_1_decimals: int
    lp_supply: int
    protocol_fees_token_0: int
    protocol_fees_token_1: int
    fund_fees_token_0: int
    fund_fees_token_1: int
    open_time: int
    recent_epoch: int
    creator_fee_on: int = CREATOR_FEE_ON_BOTH
    enable_creator_fee: bool = False
    creator_fees_token_0: int = 0
    creator_fees_token_1: int = 0

    @classmethod
    def decode(cls, data: bytes) -> PoolState:
        if len(data) != POOL_STATE_LEN or data[:8] != POOL_STATE_DISCRIMINATOR:
            raise DexError("not a Raydium CPMM PoolState account")
        keys = [Pubkey.from_bytes(data[8 + 32 * i : 40 + 32 * i]) for i in range(len(_POOL_KEYS))]
        scalars = list(_POOL_SCALARS.unpack_from(data, _POOL_SCALARS_AT))
        scalars[13] = bool(scalars[13])  # enable_creator_fee
        return cls(*keys, *scalars)

    def encode(self) -> bytes:
        keys = b"".join(bytes(getattr(self, name)) for name in _POOL_KEYS)
        scalars = _POOL_SCALARS.pack(
            self.auth_bump, self.status, self.lp_mint_decimals, self.mint_0_decimals,
            self.mint_1_decimals, self.lp_supply, self.protocol_fees_token_0,
            self.protocol_fees_token_1, self.fund_fees_token_0, self.fund_fees_token_1,
            self.open_time, self.recent_epoch, self.creator_fee_on, self.enable_creator_fee,
            self.creator_fees_token_0, self.creator_fees_token_1,
        )  # fmt: skip
        return (POOL_STATE_DISCRIMINATOR + keys + scalars).ljust(POOL_STATE_LEN, b"\0")

    def fees_owed(self) -> tuple[int, int]:
        """Protocol, fund and creator fees held in each vault but not part of the reserves."""
        return (
            self.protocol_fees_token_0 + self.fund_fees_token_0 + self.creator_fees_token_0,
            self.protocol_fees_token_1 + self.fund_fees_token_1 + self.creator_fees_token_1,
        )


def _ceil_mul_div(amount: int, numerator: int, denominator: int) -> int:
    return -(-amount * numerator // denominator)


def swap_base_input(
    *,
    amount_in: int,
    reserve_in: int,
    reserve_out: int,
    trade_fee_rate: int,
    creator_fee_rate: int = 0,
    creator_fee_on_input: bool = True,
) -> tuple[int, int]:
    """(amount out, fee taken from the input): the program's `CurveCalculator::swap_base_input`
    for a mint without transfer fee."""
    if creator_fee_on_input:
        fee = _ceil_mul_div(amount_in, trade_fee_rate + creator_fee_rate, FEE_RATE_DENOMINATOR)
    else:
        fee = _ceil_mul_div(amount_in, trade_fee_rate, FEE_RATE_DENOMINATOR)
    net = amount_in - fee
    out = reserve_out * net // (reserve_in + net)
    if not creator_fee_on_input:
        out -= _ceil_mul_div(out, creator_fee_rate, FEE_RATE_DENOMINATOR)
    return out, fee


def has_transfer_fee(mint_data: bytes) -> bool:
    """True when a Token-2022 mint carries the TransferFeeConfig extension."""
    at = _EXTENSIONS_AT
    while at + 4 <= len(mint_data):
        kind, length = struct.unpack_from("<HH", mint_data, at)
        if kind == _TRANSFER_FEE_CONFIG:
            return True
        at += 4 + length
    return False


@dataclass(frozen=True)
class SwapKeys:
    """Every account of `swap_base_input` in the program's order."""

    payer: Pubkey
    authority: Pubkey
    amm_config: Pubkey
    pool_state: Pubkey
    input_token_account: Pubkey
    output_token_account: Pubkey
    input_vault: Pubkey
    output_vault: Pubkey
    input_token_program: Pubkey
    output_token_program: Pubkey
    input_token_mint: Pubkey
    output_token_mint: Pubkey
    observation_state: Pubkey


def swap_base_input_instruction(
    *, keys: SwapKeys, amount_in: int, minimum_amount_out: int
) -> Instruction:
    writable = {"pool_state", "input_token_account", "output_token_account", "input_vault",
                "output_vault", "observation_state"}  # fmt: skip
    metas = [
        AccountMeta(getattr(keys, name), is_signer=name == "payer", is_writable=name in writable)
        for name in SwapKeys.__dataclass_fields__
    ]
    data = SWAP_BASE_INPUT_DISCRIMINATOR + struct.pack("<QQ", amount_in, minimum_amount_out)
    return Instruction(PROGRAM_ID, data, metas)


@dataclass(frozen=True)
class CpmmPoolState:
    """A pool, its fee configuration and its reserves (vault balances less fees owed)."""

    address: Pubkey
    pool: PoolState
    config: AmmConfig
    reserve_0: int
    reserve_1: int

    @property
    def sol_is_token_0(self) -> bool:
        return self.pool.token_0_mint == WSOL_MINT

    @property
    def token_mint(self) -> Pubkey:
        return self.pool.token_1_mint if self.sol_is_token_0 else self.pool.token_0_mint

    @property
    def token_program(self) -> Pubkey:
        return self.pool.token_1_program if self.sol_is_token_0 else self.pool.token_0_program

    @property
    def sol_reserve(self) -> int:
        return self.reserve_0 if self.sol_is_token_0 else self.reserve_1

    @property
    def token_reserve(self) -> int:
        return self.reserve_1 if self.sol_is_token_0 else self.reserve_0

    @property
    def creator_fee_rate(self) -> int:
        return self.config.creator_fee_rate if self.pool.enable_creator_fee else 0

    @property
    def fee_bps(self) -> int:
        """Trade plus creator fee in basis points (rounded down), for display and estimates."""
        return (self.config.trade_fee_rate + self.creator_fee_rate) // 100

    def creator_fee_on_input(self, *, input_is_token_0: bool) -> bool:
        mode = self.pool.creator_fee_on
        return (
            mode == CREATOR_FEE_ON_BOTH
            or (mode == CREATOR_FEE_ON_TOKEN_0 and input_is_token_0)
            or (mode == CREATOR_FEE_ON_TOKEN_1 and not input_is_token_0)
        )


# Pool address → (config, vault 0, vault 1, mint 0, mint 1): fixed at creation, learnt once.
_LINKED_ACCOUNTS: dict[Pubkey, tuple[Pubkey, ...]] = {}


def _linked(pool: PoolState) -> tuple[Pubkey, ...]:
    return (pool.amm_config, pool.token_0_vault, pool.token_1_vault, pool.token_0_mint,
            pool.token_1_mint)  # fmt: skip


class RaydiumCpmm(DexAdapter):
    name = "raydium_cpmm"
    program_id = PROGRAM_ID

    async def find_pools(self, *, rpc, mint: Pubkey) -> list[PoolRef]:
        """getProgramAccounts with dataSize 637 and the mint as token_0 or as token_1."""
        found = await sol_paired_accounts(
            rpc=rpc,
            program_id=PROGRAM_ID,
            size=POOL_STATE_LEN,
            mint=mint,
            offsets=(TOKEN_0_MINT_OFFSET, TOKEN_1_MINT_OFFSET),
        )
        pools = [(address, PoolState.decode(data)) for address, data in found]
        return [
            PoolRef(
                dex=self.name,
                address=address,
                base_mint=pool.token_0_mint,
                quote_mint=pool.token_1_mint,
            )
            for address, pool in pools
        ]

    def decode(self, *, address: Pubkey, data: bytes) -> PoolState:
        return PoolState.decode(data)

    async def load_state(self, *, rpc, address: Pubkey) -> CpmmPoolState:
        pool, linked, accounts = await load_with_linked(
            rpc=rpc,
            address=address,
            program_id=PROGRAM_ID,
            cache=_LINKED_ACCOUNTS,
            decode=PoolState.decode,
            linked_of=_linked,
            not_found=f"no Raydium CPMM pool at {address}",
            changed=f"pool {address} changed its config or vaults; load it again",
        )
        config_acc, vault_0, vault_1, mint_0, mint_1 = accounts
        if None in (config_acc, vault_0, vault_1, mint_0, mint_1):
            raise DexError(f"pool {address} is missing its config, vault or mint accounts")
        for mint in (mint_0, mint_1):
            if mint.owner == TOKEN_2022_PROGRAM_ID and has_transfer_fee(bytes(mint.data)):
                raise DexError(f"pool {address} trades a mint with a transfer fee (unsupported)")
        _LINKED_ACCOUNTS[address] = linked
        owed_0, owed_1 = pool.fees_owed()
        return CpmmPoolState(
            address=address,
            pool=pool,
            config=AmmConfig.decode(bytes(config_acc.data)),
            reserve_0=decode_token_account(bytes(vault_0.data)).amount - owed_0,
            reserve_1=decode_token_account(bytes(vault_1.data)).amount - owed_1,
        )

    def quote(self, *, state: CpmmPoolState, side: Side, amount_in: int) -> Quote:
        """`fee` is what the input pays (trade fee, plus the creator fee when it is taken from
        the input); a creator fee on the output is already out of `amount_out`."""
        if state.pool.status & STATUS_SWAP_DISABLED:
            raise DexError(
                f"pool {state.address} does not allow swaps (status {state.pool.status})"
            )
        sol_in = side == Side.BUY
        reserve_in, reserve_out = (
            (state.sol_reserve, state.token_reserve)
            if sol_in
            else (state.token_reserve, state.sol_reserve)
        )
        out, fee = swap_base_input(
            amount_in=amount_in,
            reserve_in=reserve_in,
            reserve_out=reserve_out,
            trade_fee_rate=state.config.trade_fee_rate,
            creator_fee_rate=state.creator_fee_rate,
            creator_fee_on_input=state.creator_fee_on_input(
                input_is_token_0=sol_in == state.sol_is_token_0
            ),
        )
        return Quote(side=side, amount_in=amount_in, amount_out=out, fee=fee)

    def swap_keys(self, *, state: CpmmPoolState, owner: Pubkey, side: Side) -> SwapKeys:
        pool = state.pool
        sides = [
            (pool.token_0_vault, pool.token_0_program, pool.token_0_mint),
            (pool.token_1_vault, pool.token_1_program, pool.token_1_mint),
        ]
        sol, token = (sides[0], sides[1]) if state.sol_is_token_0 else (sides[1], sides[0])
        (in_vault, in_program, in_mint), (out_vault, out_program, out_mint) = (
            (sol, token) if side == Side.BUY else (token, sol)
        )
        return SwapKeys(
            payer=owner,
            authority=authority_address(),
            amm_config=pool.amm_config,
            pool_state=state.address,
            input_token_account=ata_address(owner=owner, mint=in_mint, token_program=in_program),
            output_token_account=ata_address(owner=owner, mint=out_mint, token_program=out_program),
            input_vault=in_vault,
            output_vault=out_vault,
            input_token_program=in_program,
            output_token_program=out_program,
            input_token_mint=in_mint,
            output_token_mint=out_mint,
            observation_state=pool.observation_key,
        )

    def _swap(
        self,
        *,
        state: CpmmPoolState,
        owner: Pubkey,
        side: Side,
        quote: Quote,
        slippage_bps: int,
        limit: int | None,
    ) -> Instruction:
        """`swap_base_input` of the quote between the owner's WSOL and token ATAs."""
        return swap_base_input_instruction(
            keys=self.swap_keys(state=state, owner=owner, side=side),
            amount_in=quote.amount_in,
            minimum_amount_out=limit_or_min_out(
                quote=quote, slippage_bps=slippage_bps, limit=limit
            ),
        )

    def build_buy(
        self,
        *,
        state: CpmmPoolState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Wrap SOL, swap WSOL → token into the owner's ATA, close the WSOL account."""
        return sol_buy_instructions(
            owner=owner,
            lamports=quote.amount_in,
            token_ata=create_ata_idempotent(
                payer=owner, owner=owner, mint=state.token_mint, token_program=state.token_program
            ),
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
        state: CpmmPoolState,
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
