"""pump.fun bonding curve accounts, addresses and pricing, as `idl/pump.json` defines them.

`Global` (PDA ["global"]) and `BondingCurve` (PDA ["bonding-curve", mint], 115 bytes today)
are decoded in full; older, shorter curves are read zero-padded, as the official client does.

Pricing (the `buy_exact_sol_in` docs of the IDL): a buy of `amount` raw tokens costs
`ceil(amount * virtual_quote / (virtual_token - amount)) + 1` lamports; a sell of `amount`
yields `floor(amount * virtual_quote / (virtual_token + amount))`. The fee is
`ceil(sol * protocol_bps / 10_000) + ceil(sol * creator_bps / 10_000)`, added to a buy's cost
and taken from a sell's output; the creator part is charged only when the curve has a creator.
The bps come from the fee program's `FeeConfig` tier for the curve's market cap
(`virtual_quote * token_total_supply / virtual_token`), or from `Global` without one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from solders.pubkey import Pubkey

from apps.chain.constants import PUMPFUN_PROGRAM_ID
from apps.chain.dex import anchor, pumpfees
from apps.chain.dex.anchor import discriminator, pubkeys, unpack_account
from apps.chain.dex.pumpfees import FeeConfig, ceil_fee, fee_tier
from apps.chain.errors import DexError

PROGRAM_ID = PUMPFUN_PROGRAM_ID
DEFAULT_PUBKEY = Pubkey.default()


GLOBAL_DISCRIMINATOR = discriminator("account", "Global")
BONDING_CURVE_DISCRIMINATOR = discriminator("account", "BondingCurve")

# Global, field by field as in the IDL (arrays of pubkeys as raw bytes).
_GLOBAL = struct.Struct("<8s?32s32s5Q32s?QQ224s32s32s?32s32s?224s?256sQQ32s")
# BondingCurve: reserves and supply, complete, creator, is_mayhem_mode, is_cashback_coin,
# quote_mint.
_CURVE = struct.Struct("<8s5Q?32s??32s")
BONDING_CURVE_LEN = _CURVE.size


def global_address() -> Pubkey:
    return Pubkey.find_program_address([b"global"], PROGRAM_ID)[0]


def event_authority_address() -> Pubkey:
    return anchor.event_authority_address(PROGRAM_ID)


def bonding_curve_address(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve", bytes(mint)], PROGRAM_ID)[0]


def bonding_curve_v2_address(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve-v2", bytes(mint)], PROGRAM_ID)[0]


def creator_vault_address(creator: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"creator-vault", bytes(creator)], PROGRAM_ID)[0]


def global_volume_accumulator_address() -> Pubkey:
    return pumpfees.global_volume_accumulator_address(PROGRAM_ID)


def user_volume_accumulator_address(user: Pubkey) -> Pubkey:
    return pumpfees.user_volume_accumulator_address(PROGRAM_ID, user)


def fee_config_address() -> Pubkey:
    return pumpfees.fee_config_address(PROGRAM_ID)


@dataclass(frozen=True)
class Global:
    initialized: bool
    authority: Pubkey
    fee_recipient: Pubkey
    initial_virtual_token_reserves: int
    initial_virtual_sol_reserves: int
    initial_real_token_reserves: int
    token_total_supply: int
    fee_basis_points: int
    withdraw_authority: Pubkey
    enable_migrate: bool
    pool_migration_fee: int
    creator_fee_basis_points: int
    fee_recipients: tuple[Pubkey, ...]
    set_creator_authority: Pubkey
    admin_set_creator_authority: Pubkey
    create_v2_enabled: bool
    whitelist_pda: Pubkey
    reserved_fee_recipient: Pubkey
    mayhem_mode_enabled: bool
    reserved_fee_recipients: tuple[Pubkey, ...]
    is_cashback_enabled: bool
    buyback_fee_recipients: tuple[Pubkey, ...]
    buyback_basis_points: int
    initial_virtual_quote_reserves: int
    whitelisted_quote_mints: tuple[Pubkey, ...]

    @classmethod
    def decode(cls, data: bytes) -> Global:
        v = unpack_account(
            _GLOBAL, data, account_discriminator=GLOBAL_DISCRIMINATOR, what="pump.fun Global"
        )
        return cls(
            v[1],
            Pubkey.from_bytes(v[2]),
            Pubkey.from_bytes(v[3]),
            *v[4:9],
            Pubkey.from_bytes(v[9]),
            v[10],
            v[11],
            v[12],
            pubkeys(v[13]),
            Pubkey.from_bytes(v[14]),
            Pubkey.from_bytes(v[15]),
            v[16],
            Pubkey.from_bytes(v[17]),
            Pubkey.from_bytes(v[18]),
            v[19],
            pubkeys(v[20]),
            v[21],
            pubkeys(v[22]),
            v[23],
            v[24],
            pubkeys(v[25]),
        )

    def encode(self) -> bytes:
        return _GLOBAL.pack(
            GLOBAL_DISCRIMINATOR,
            self.initialized,
            bytes(self.authority),
            bytes(self.fee_recipient),
            self.initial_virtual_token_reserves,
            self.initial_virtual_sol_reserves,
            self.initial_real_token_reserves,
            self.token_total_supply,
            self.fee_basis_points,
            bytes(self.withdraw_authority),
            self.enable_migrate,
            self.pool_migration_fee,
            self.creator_fee_basis_points,
            b"".join(map(bytes, self.fee_recipients)),
            bytes(self.set_creator_authority),
            bytes(self.admin_set_creator_authority),
            self.create_v2_enabled,
            bytes(self.whitelist_pda),
            bytes(self.reserved_fee_recipient),
            self.mayhem_mode_enabled,
            b"".join(map(bytes, self.reserved_fee_recipients)),
            self.is_cashback_enabled,
            b"".join(map(bytes, self.buyback_fee_recipients)),
            self.buyback_basis_points,
            self.initial_virtual_quote_reserves,
            b"".join(map(bytes, self.whitelisted_quote_mints)),
        )

    @property
    def all_fee_recipients(self) -> tuple[Pubkey, ...]:
        """The eight recipients a non-mayhem trade may name."""
        return (self.fee_recipient, *self.fee_recipients)

    @property
    def all_reserved_fee_recipients(self) -> tuple[Pubkey, ...]:
        """The eight recipients a mayhem coin's trade must name."""
        return (self.reserved_fee_recipient, *self.reserved_fee_recipients)


@dataclass(frozen=True)
class BondingCurve:
    virtual_token_reserves: int
    virtual_quote_reserves: int
    real_token_reserves: int
    real_quote_reserves: int
    token_total_supply: int
    complete: bool
    creator: Pubkey = DEFAULT_PUBKEY
    is_mayhem_mode: bool = False
    is_cashback_coin: bool = False
    quote_mint: Pubkey = DEFAULT_PUBKEY

    @classmethod
    def decode(cls, data: bytes) -> BondingCurve:
        # Curves created before the later fields existed are shorter (read zero-padded).
        v = unpack_account(
            _CURVE,
            data,
            account_discriminator=BONDING_CURVE_DISCRIMINATOR,
            what="pump.fun BondingCurve",
        )
        return cls(*v[1:7], Pubkey.from_bytes(v[7]), v[8], v[9], Pubkey.from_bytes(v[10]))

    def encode(self) -> bytes:
        return _CURVE.pack(
            BONDING_CURVE_DISCRIMINATOR,
            self.virtual_token_reserves,
            self.virtual_quote_reserves,
            self.real_token_reserves,
            self.real_quote_reserves,
            self.token_total_supply,
            self.complete,
            bytes(self.creator),
            self.is_mayhem_mode,
            self.is_cashback_coin,
            bytes(self.quote_mint),
        )

    @property
    def sol_quoted(self) -> bool:
        """Coins created to date (and SOL-paired ones) store the default pubkey."""
        return self.quote_mint == DEFAULT_PUBKEY

    @property
    def has_creator(self) -> bool:
        return self.creator != DEFAULT_PUBKEY

    def market_cap(self) -> int:
        if self.virtual_token_reserves == 0:
            raise DexError("bonding curve has no virtual token reserves")
        return self.virtual_quote_reserves * self.token_total_supply // self.virtual_token_reserves

    def after_buy(self, *, amount: int, sol_cost: int) -> BondingCurve:
        real_tokens = self.real_token_reserves - amount
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves - amount,
            virtual_quote_reserves=self.virtual_quote_reserves + sol_cost,
            real_token_reserves=real_tokens,
            real_quote_reserves=self.real_quote_reserves + sol_cost,
            complete=real_tokens == 0,
        )

    def after_sell(self, *, amount: int, sol_out: int) -> BondingCurve:
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves + amount,
            virtual_quote_reserves=self.virtual_quote_reserves - sol_out,
            real_token_reserves=self.real_token_reserves + amount,
            real_quote_reserves=self.real_quote_reserves - sol_out,
        )


@dataclass(frozen=True)
class CurveFees:
    """Protocol and creator fee in bps for one trade on a curve."""

    protocol_fee_bps: int
    creator_fee_bps: int

    def protocol_fee(self, lamports: int) -> int:
        return ceil_fee(lamports, self.protocol_fee_bps)

    def creator_fee(self, lamports: int) -> int:
        return ceil_fee(lamports, self.creator_fee_bps)

    def total(self, lamports: int) -> int:
        return self.protocol_fee(lamports) + self.creator_fee(lamports)


def curve_fees(*, curve: BondingCurve, global_state: Global, fee_config: FeeConfig | None):
    """The fee rates a trade on `curve` pays now (tiered by market cap when a FeeConfig exists)."""
    if fee_config is not None:
        tier = fee_tier(tiers=fee_config.fee_tiers, market_cap=curve.market_cap())
        protocol, creator = tier.protocol_fee_bps, tier.creator_fee_bps
    else:
        protocol, creator = global_state.fee_basis_points, global_state.creator_fee_basis_points
    return CurveFees(protocol, creator if curve.has_creator else 0)


def buy_sol_cost(*, curve: BondingCurve, amount: int) -> int:
    """Lamports (before fees) the curve charges for `amount` raw tokens."""
    remaining = curve.virtual_token_reserves - amount
    if amount <= 0 or remaining <= 0:
        raise DexError("buy amount out of the curve's range")
    return -(-curve.virtual_quote_reserves * amount // remaining) + 1


def sell_sol_output(*, curve: BondingCurve, amount: int) -> int:
    """Lamports (before fees) the curve pays for `amount` raw tokens."""
    return amount * curve.virtual_quote_reserves // (curve.virtual_token_reserves + amount)


def pick(recipients: tuple[Pubkey, ...], *, user: Pubkey) -> Pubkey:
    """One of the interchangeable recipients, chosen by the trader so that concurrent makers
    spread their write locks (the docs recommend varying it)."""
    return recipients[bytes(user)[-1] % len(recipients)]
