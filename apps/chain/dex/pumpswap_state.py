"""PumpSwap (pump_amm, pAMMBay…) accounts, addresses and pricing, as `idl/pump_amm.json` and the
PumpSwap docs define them.

`GlobalConfig` (PDA ["global_config"]) holds the fallback fees and the fee recipients; a `Pool`
(PDA ["pool", index u16, creator, base_mint, quote_mint]) names its mints and vaults (the
pool's ATAs) and its `coin_creator`. A pool made by pump.fun's `migrate` is canonical: index 0,
created by pump's ["pool-authority", mint] PDA.

Pricing (constant product on the vault balances): a buy of `base_out` costs
`ceil(quote_reserve * base_out / (base_reserve - base_out))` plus the LP, protocol and
coin-creator fees, each `ceil(quote * bps / 10_000)` of that; a sell of `base_in` yields
`floor(quote_reserve * base_in / (base_reserve + base_in))` less the same three fees. The LP fee
stays in the pool. The bps come from the fee program's `FeeConfig`: the market-cap tier
(`quote_reserve * base_supply / base_reserve`) for canonical pools, its flat fees for others,
or `GlobalConfig` without a FeeConfig; no coin creator, no creator fee.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from apps.chain.constants import PUMPFUN_PROGRAM_ID
from apps.chain.dex import anchor, pumpfees
from apps.chain.dex.anchor import discriminator, pubkeys, unpack_account
from apps.chain.dex.pumpfees import FeeConfig, ceil_fee, fee_tier
from apps.chain.errors import DexError

PROGRAM_ID = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
DEFAULT_PUBKEY = Pubkey.default()
CANONICAL_POOL_INDEX = 0

POOL_DISCRIMINATOR = discriminator("account", "Pool")
GLOBAL_CONFIG_DISCRIMINATOR = discriminator("account", "GlobalConfig")

_POOL = struct.Struct("<8sBH32s32s32s32s32s32sQ32s??")
POOL_LEN = _POOL.size
# Offsets of the mints, for getProgramAccounts filters.
POOL_BASE_MINT_OFFSET = 8 + 1 + 2 + 32
POOL_QUOTE_MINT_OFFSET = POOL_BASE_MINT_OFFSET + 32
_GLOBAL_CONFIG = struct.Struct("<8s32sQQB256sQ32s32s32s?224s?256sQ")


def global_config_address() -> Pubkey:
    return Pubkey.find_program_address([b"global_config"], PROGRAM_ID)[0]


def event_authority_address() -> Pubkey:
    return anchor.event_authority_address(PROGRAM_ID)


def pool_authority_address(mint: Pubkey) -> Pubkey:
    """pump.fun's PDA that creates the canonical pool of a migrated coin."""
    return Pubkey.find_program_address([b"pool-authority", bytes(mint)], PUMPFUN_PROGRAM_ID)[0]


def pool_address(*, index: int, creator: Pubkey, base_mint: Pubkey, quote_mint: Pubkey) -> Pubkey:
    seeds = [b"pool", struct.pack("<H", index), bytes(creator), bytes(base_mint), bytes(quote_mint)]
    return Pubkey.find_program_address(seeds, PROGRAM_ID)[0]


def canonical_pool_address(*, base_mint: Pubkey, quote_mint: Pubkey) -> Pubkey:
    return pool_address(
        index=CANONICAL_POOL_INDEX,
        creator=pool_authority_address(base_mint),
        base_mint=base_mint,
        quote_mint=quote_mint,
    )


def pool_v2_address(base_mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"pool-v2", bytes(base_mint)], PROGRAM_ID)[0]


def coin_creator_vault_authority_address(coin_creator: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"creator_vault", bytes(coin_creator)], PROGRAM_ID)[0]


def global_volume_accumulator_address() -> Pubkey:
    return pumpfees.global_volume_accumulator_address(PROGRAM_ID)


def user_volume_accumulator_address(user: Pubkey) -> Pubkey:
    return pumpfees.user_volume_accumulator_address(PROGRAM_ID, user)


def fee_config_address() -> Pubkey:
    return pumpfees.fee_config_address(PROGRAM_ID)


@dataclass(frozen=True)
class Pool:
    pool_bump: int
    index: int
    creator: Pubkey
    base_mint: Pubkey
    quote_mint: Pubkey
    lp_mint: Pubkey
    pool_base_token_account: Pubkey
    pool_quote_token_account: Pubkey
    lp_supply: int
    coin_creator: Pubkey = DEFAULT_PUBKEY
    is_mayhem_mode: bool = False
    is_cashback_coin: bool = False

    @classmethod
    def decode(cls, data: bytes) -> Pool:
        v = unpack_account(
            _POOL, data, account_discriminator=POOL_DISCRIMINATOR, what="PumpSwap Pool"
        )
        keys = [Pubkey.from_bytes(k) for k in v[3:9]]
        return cls(v[1], v[2], *keys, v[9], Pubkey.from_bytes(v[10]), v[11], v[12])

    def encode(self) -> bytes:
        return _POOL.pack(
            POOL_DISCRIMINATOR,
            self.pool_bump,
            self.index,
            *(
                bytes(k)
                for k in (
                    self.creator,
                    self.base_mint,
                    self.quote_mint,
                    self.lp_mint,
                    self.pool_base_token_account,
                    self.pool_quote_token_account,
                )
            ),
            self.lp_supply,
            bytes(self.coin_creator),
            self.is_mayhem_mode,
            self.is_cashback_coin,
        )

    @property
    def canonical(self) -> bool:
        """Made by pump.fun's `migrate` (the docs' `isPumpPool`)."""
        return self.creator == pool_authority_address(self.base_mint)

    @property
    def has_coin_creator(self) -> bool:
        return self.coin_creator != DEFAULT_PUBKEY


@dataclass(frozen=True)
class GlobalConfig:
    admin: Pubkey
    lp_fee_basis_points: int
    protocol_fee_basis_points: int
    disable_flags: int
    protocol_fee_recipients: tuple[Pubkey, ...]
    coin_creator_fee_basis_points: int
    admin_set_coin_creator_authority: Pubkey
    whitelist_pda: Pubkey
    reserved_fee_recipient: Pubkey
    mayhem_mode_enabled: bool
    reserved_fee_recipients: tuple[Pubkey, ...]
    is_cashback_enabled: bool
    buyback_fee_recipients: tuple[Pubkey, ...]
    buyback_basis_points: int

    @classmethod
    def decode(cls, data: bytes) -> GlobalConfig:
        v = unpack_account(
            _GLOBAL_CONFIG,
            data,
            account_discriminator=GLOBAL_CONFIG_DISCRIMINATOR,
            what="PumpSwap GlobalConfig",
        )
        return cls(
            Pubkey.from_bytes(v[1]),
            v[2],
            v[3],
            v[4],
            pubkeys(v[5]),
            v[6],
            Pubkey.from_bytes(v[7]),
            Pubkey.from_bytes(v[8]),
            Pubkey.from_bytes(v[9]),
            v[10],
            pubkeys(v[11]),
            v[12],
            pubkeys(v[13]),
            v[14],
        )

    def encode(self) -> bytes:
        return _GLOBAL_CONFIG.pack(
            GLOBAL_CONFIG_DISCRIMINATOR,
            bytes(self.admin),
            self.lp_fee_basis_points,
            self.protocol_fee_basis_points,
            self.disable_flags,
            b"".join(map(bytes, self.protocol_fee_recipients)),
            self.coin_creator_fee_basis_points,
            bytes(self.admin_set_coin_creator_authority),
            bytes(self.whitelist_pda),
            bytes(self.reserved_fee_recipient),
            self.mayhem_mode_enabled,
            b"".join(map(bytes, self.reserved_fee_recipients)),
            self.is_cashback_enabled,
            b"".join(map(bytes, self.buyback_fee_recipients)),
            self.buyback_basis_points,
        )

    @property
    def all_reserved_fee_recipients(self) -> tuple[Pubkey, ...]:
        return (self.reserved_fee_recipient, *self.reserved_fee_recipients)


@dataclass(frozen=True)
class PoolFees:
    lp_fee_bps: int
    protocol_fee_bps: int
    creator_fee_bps: int

    def split(self, quote: int) -> tuple[int, int, int]:
        """(lp, protocol, creator) fees on `quote`, each rounded up."""
        return (
            ceil_fee(quote, self.lp_fee_bps),
            ceil_fee(quote, self.protocol_fee_bps),
            ceil_fee(quote, self.creator_fee_bps),
        )

    @property
    def total_bps(self) -> int:
        return self.lp_fee_bps + self.protocol_fee_bps + self.creator_fee_bps


def pool_fees(
    *,
    pool: Pool,
    global_config: GlobalConfig,
    fee_config: FeeConfig | None,
    base_reserve: int,
    quote_reserve: int,
    base_supply: int,
) -> PoolFees:
    """The fee rates a trade on `pool` pays at these reserves."""
    if fee_config is None:
        lp, protocol, creator = (
            global_config.lp_fee_basis_points,
            global_config.protocol_fee_basis_points,
            global_config.coin_creator_fee_basis_points,
        )
    else:
        if pool.canonical:
            if base_reserve == 0:
                raise DexError("PumpSwap pool has no base reserve")
            fees = fee_tier(
                tiers=fee_config.fee_tiers, market_cap=quote_reserve * base_supply // base_reserve
            )
        else:
            fees = fee_config.flat_fees
        lp, protocol, creator = fees.lp_fee_bps, fees.protocol_fee_bps, fees.creator_fee_bps
    return PoolFees(lp, protocol, creator if pool.has_coin_creator else 0)


def buy_quote_in(*, base_reserve: int, quote_reserve: int, base_out: int) -> int:
    """Quote units (before fees) the pool takes for `base_out`."""
    if base_out <= 0 or base_out >= base_reserve:
        raise DexError("buy amount out of the pool's range")
    return -(-quote_reserve * base_out // (base_reserve - base_out))


def sell_quote_out(*, base_reserve: int, quote_reserve: int, base_in: int) -> int:
    """Quote units (before fees) the pool pays for `base_in`."""
    return quote_reserve * base_in // (base_reserve + base_in)
