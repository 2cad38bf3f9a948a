"""The pump fee program's `FeeConfig` and its market-cap fee tiers, shared by pump.fun and
PumpSwap (layouts from `idl/pump_fees.json`; tier rule from the fee program's README).

Each program has its own `FeeConfig` at PDA ["fee_config", <program id>] of the fee program.
The tier that applies is the last one whose `market_cap_lamports_threshold` the market cap
reaches (the first tier below the first threshold). Fees are rounded up, per component.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.pubkey import Pubkey

from apps.chain.dex.anchor import discriminator
from apps.chain.dex.base import BPS
from apps.chain.errors import DexError

FEE_PROGRAM_ID = Pubkey.from_string("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ")
FEE_CONFIG_DISCRIMINATOR = discriminator("account", "FeeConfig")

_FEES = struct.Struct("<3Q")
_TIER = struct.Struct("<QQ3Q")  # u128 threshold as two u64 halves, then Fees


def fee_config_address(program_id: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"fee_config", bytes(program_id)], FEE_PROGRAM_ID)[0]


def global_volume_accumulator_address(program_id: Pubkey) -> Pubkey:
    """Both pump programs keep traders' volume (for cashback) at the same seeds."""
    return Pubkey.find_program_address([b"global_volume_accumulator"], program_id)[0]


def user_volume_accumulator_address(program_id: Pubkey, user: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"user_volume_accumulator", bytes(user)], program_id)[0]


def ceil_fee(amount: int, bps: int) -> int:
    """`amount * bps / 10_000`, rounded up (the programs' fee rounding)."""
    return -(-amount * bps // BPS)


@dataclass(frozen=True)
class Fees:
    lp_fee_bps: int
    protocol_fee_bps: int
    creator_fee_bps: int


@dataclass(frozen=True)
class FeeTier:
    market_cap_lamports_threshold: int
    fees: Fees


@dataclass(frozen=True)
class FeeConfig:
    bump: int
    admin: Pubkey
    flat_fees: Fees
    fee_tiers: tuple[FeeTier, ...]
    stable_fee_tiers: tuple[FeeTier, ...] = ()

    @classmethod
    def decode(cls, data: bytes) -> FeeConfig:
        if len(data) < 8 + 1 + 32 + _FEES.size + 4 or data[:8] != FEE_CONFIG_DISCRIMINATOR:
            raise DexError("not a pump FeeConfig account")
        bump, admin = data[8], Pubkey.from_bytes(data[9:41])
        flat = Fees(*_FEES.unpack_from(data, 41))
        offset = 41 + _FEES.size
        tiers: list[tuple[FeeTier, ...]] = []
        for _ in range(2):
            (count,) = struct.unpack_from("<I", data, offset)
            offset += 4
            found = []
            for _ in range(count):
                low, high, lp, protocol, creator = _TIER.unpack_from(data, offset)
                found.append(FeeTier(low | high << 64, Fees(lp, protocol, creator)))
                offset += _TIER.size
            tiers.append(tuple(found))
        return cls(bump, admin, flat, tiers[0], tiers[1])

    def encode(self) -> bytes:
        out = [FEE_CONFIG_DISCRIMINATOR, bytes([self.bump]), bytes(self.admin)]
        out.append(_FEES.pack(*_fees(self.flat_fees)))
        for tiers in (self.fee_tiers, self.stable_fee_tiers):
            out.append(struct.pack("<I", len(tiers)))
            for tier in tiers:
                threshold = tier.market_cap_lamports_threshold
                out.append(_TIER.pack(threshold & (2**64 - 1), threshold >> 64, *_fees(tier.fees)))
        return b"".join(out)


def _fees(fees: Fees) -> tuple[int, int, int]:
    return fees.lp_fee_bps, fees.protocol_fee_bps, fees.creator_fee_bps


def fee_tier(*, tiers: tuple[FeeTier, ...], market_cap: int) -> Fees:
    """The fees of the tier `market_cap` (lamports) falls in."""
    if not tiers:
        raise DexError("pump FeeConfig has no fee tiers")
    for tier in reversed(tiers):
        if market_cap >= tier.market_cap_lamports_threshold:
            return tier.fees
    return tiers[0].fees


def fee_config_from_account(account) -> FeeConfig | None:
    """The FeeConfig in a fetched account, or None when it does not exist (the programs then
    fall back to their global fee settings)."""
    if account is None or account.owner != FEE_PROGRAM_ID:
        return None
    return FeeConfig.decode(bytes(account.data))
