"""Seed a cluster: a token with Metaplex metadata, a Raydium AMM v4 pool, a Raydium CPMM pool
and a pump.fun curve for it in the venues' real layouts, funded wallets; also migrated curves
and Token-2022 mints. CPMM pools are created by the program's own `initialize`.

Keys are random unless a `key_seed` is given (the demo uses a fixed seed so the platform's
demo wallet survives restarts). Seeded keys are localnet-only and never logged.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction

from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    LAMPORTS_PER_SOL,
    METAPLEX_METADATA_PROGRAM_ID,
    OPENBOOK_PROGRAM_ID,
    RENT_SYSVAR_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex import pumpfun_state as pfs
from apps.chain.dex import raydium_amm_v4 as ray
from apps.chain.dex import raydium_cpmm as cpmm
from apps.chain.dex.pumpfees import (
    FEE_PROGRAM_ID,
    FeeConfig,
    Fees,
    FeeTier,
    fee_config_address,
)
from apps.chain.metaplex import TokenMetadata, metadata_address
from apps.chain.spl import MINT_LEN, TOKEN_ACCOUNT_LEN, ata_address
from apps.localnet.cluster import Cluster

# pump.fun's launch parameters (Global account on mainnet).
PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES = 1_073_000_000_000_000
PUMP_INITIAL_VIRTUAL_SOL_RESERVES = 30_000_000_000
PUMP_INITIAL_REAL_TOKEN_RESERVES = 793_100_000_000_000
PUMP_TOKEN_TOTAL_SUPPLY = 1_000_000_000_000_000
# Global's fallback rates (the FeeConfig tiers below are what trades pay).
PUMP_FEE_BASIS_POINTS = 95
PUMP_CREATOR_FEE_BASIS_POINTS = 30


def _keys_of(*addresses: str) -> tuple[Pubkey, ...]:
    return tuple(Pubkey.from_string(a) for a in addresses)


# The 8 normal, 8 reserved (mayhem) and 8 buyback fee recipients of mainnet
# (docs/FEE_RECIPIENTS.md of pump-public-docs).
PUMP_FEE_RECIPIENTS = _keys_of(
    "62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV",
    "7VtfL8fvgNfhz17qKRMjzQEXgbdpnHHHQRh54R9jP2RJ",
    "7hTckgnGnLQR6sdH7YkqFTAA7VwTfYFaZ6EhEsU3saCX",
    "9rPYyANsfQZw3DnDmKE3YCQF5E8oD89UXoHn9JFEhJUz",
    "AVmoTthdrX6tKt4nDjco2D775W2YK3sDhxPcMmzUAmTY",
    "CebN5WGQ4jvEPvsVU4EoHEpgzq1VV7AbicfhtW4xC9iM",
    "FWsW1xNtWscwNmKv6wVsU1iTzRN6wmmk3MjxRP5tT7hz",
    "G5UZAVbAf46s7cKWoyKu8kYTip9DGTpbLZ2qa9Aq69dP",
)
PUMP_RESERVED_FEE_RECIPIENTS = _keys_of(
    "GesfTA3X2arioaHp8bbKdjG9vJtskViWACZoYvxp4twS",
    "4budycTjhs9fD6xw62VBducVTNgMgJJ5BgtKq7mAZwn6",
    "8SBKzEQU4nLSzcwF4a74F2iaUDQyTfjGndn6qUWBnrpR",
    "4UQeTP1T39KZ9Sfxzo3WR5skgsaP6NZa87BAkuazLEKH",
    "8sNeir4QsLsJdYpc9RZacohhK1Y5FLU3nC5LXgYB4aa6",
    "Fh9HmeLNUMVCvejxCtCL2DbYaRyBFVJ5xrWkLnMH6fdk",
    "463MEnMeGyJekNZFQSTUABBEbLnvMTALbT6ZmsxAbAdq",
    "6AUH3WEHucYZyC61hqpqYUWVto5qA5hjHuNQ32GNnNxA",
)
PUMP_BUYBACK_FEE_RECIPIENTS = _keys_of(
    "5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD",
    "9M4giFFMxmFGXtc3feFzRai56WbBqehoSeRE5GK7gf7",
    "GXPFM2caqTtQYC2cJ5yJRi9VDkpsYZXzYdwYpGnLmtDL",
    "3BpXnfJaUTiwXnJNe7Ej1rcbzqTTQUvLShZaWazebsVR",
    "5cjcW9wExnJJiqgLjq7DEG75Pm6JBgE1hNv4B2vHXUW6",
    "EHAAiTxcdDwQ3U4bU6YcMsQGaekdzLS3B5SmYo46kJtL",
    "5eHhjP8JaYkz83CWwvGU2uMUXefd3AazWGx4gpcuEEYD",
    "A7hAgCzFw14fejgCp387JUJRMNyz4j89JKnhtKU8piqW",
)
# The bonding curve's fees on mainnet (docs/fees.png: protocol 0.95 %, creator 0.30 %) from
# launch; the second tier, from a 40 SOL market cap, is localnet's own so that tests cross a
# tier boundary (mainnet's curve has one rate).
PUMP_FEE_TIERS = (
    FeeTier(0, Fees(lp_fee_bps=0, protocol_fee_bps=95, creator_fee_bps=30)),
    FeeTier(40 * LAMPORTS_PER_SOL, Fees(lp_fee_bps=0, protocol_fee_bps=90, creator_fee_bps=25)),
)
DEMO_KEY_SEED = b"volumebot-localnet-demo-v1"


@dataclass(frozen=True)
class RaydiumSeed:
    amm: Pubkey
    authority: Pubkey
    coin_vault: Pubkey
    pc_vault: Pubkey
    lp_mint: Pubkey
    open_orders: Pubkey
    target_orders: Pubkey
    market: Pubkey


@dataclass(frozen=True)
class CpmmSeed:
    pool: Pubkey
    amm_config: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    lp_mint: Pubkey
    observation: Pubkey


@dataclass(frozen=True)
class PumpSeed:
    curve: Pubkey
    associated_curve: Pubkey
    global_account: Pubkey
    creator: Pubkey
    creator_vault: Pubkey


@dataclass(frozen=True)
class SeededToken:
    """What `seed_token` created (mint authority and wallets are keypairs for tests/demo)."""

    mint: Pubkey
    decimals: int
    token_program: Pubkey
    metadata: Pubkey
    mint_authority: Keypair
    raydium: RaydiumSeed | None
    pumpfun: PumpSeed | None
    cpmm: CpmmSeed | None
    wallets: tuple[Keypair, ...]


class _Keys:
    def __init__(self, seed: bytes | None):
        self._seed = seed

    def keypair(self, label: str) -> Keypair:
        if self._seed is None:
            return Keypair()
        return Keypair.from_seed(hashlib.sha256(self._seed + label.encode()).digest())

    def address(self, label: str) -> Pubkey:
        return self.keypair(label).pubkey()


def _rent(cluster: Cluster, size: int) -> int:
    return cluster.minimum_balance_for_rent_exemption(size)


def write_account(
    cluster: Cluster, *, address: Pubkey, data: bytes, owner: Pubkey, extra_lamports: int = 0
) -> None:
    """Set `address` to `data` owned by `owner`, rent-exempt (plus `extra_lamports`)."""
    cluster.set_account(address, Account(_rent(cluster, len(data)) + extra_lamports, data, owner))


def seed_fee_config(
    cluster: Cluster, *, program_id: Pubkey, flat_fees: Fees, tiers: tuple[FeeTier, ...]
) -> Pubkey:
    """The fee program's FeeConfig for `program_id` (pump.fun or PumpSwap)."""
    address = fee_config_address(program_id)
    state = FeeConfig(
        bump=Pubkey.find_program_address([b"fee_config", bytes(program_id)], FEE_PROGRAM_ID)[1],
        admin=PUMP_FEE_RECIPIENTS[0],
        flat_fees=flat_fees,
        fee_tiers=tiers,
    )
    write_account(cluster, address=address, data=state.encode(), owner=FEE_PROGRAM_ID)
    return address


def fund(cluster: Cluster, *, address: Pubkey, lamports: int) -> None:
    """Make `address` a system account holding exactly `lamports`."""
    cluster.set_account(address, Account(lamports, b"", SYSTEM_PROGRAM_ID))


def create_mint(
    cluster: Cluster,
    *,
    address: Pubkey,
    decimals: int,
    authority: Pubkey | None,
    supply: int = 0,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Pubkey:
    state = Mint(mint_authority=authority, supply=supply, decimals=decimals, is_initialized=True)
    cluster.set_account(address, Account(_rent(cluster, MINT_LEN), bytes(state), token_program))
    return address


def create_token_account(
    cluster: Cluster,
    *,
    address: Pubkey,
    mint: Pubkey,
    owner: Pubkey,
    amount: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Pubkey:
    rent = _rent(cluster, TOKEN_ACCOUNT_LEN)
    native = mint == WSOL_MINT
    state = TokenAccount(
        mint=mint,
        owner=owner,
        amount=amount,
        delegate=None,
        state=TokenAccountState.Initialized,
        is_native=rent if native else None,
        delegated_amount=0,
    )
    lamports = rent + amount if native else rent
    cluster.set_account(address, Account(lamports, bytes(state), token_program))
    return address


def seed_metadata(
    cluster: Cluster, *, mint: Pubkey, name: str, symbol: str, uri: str, update_authority: Pubkey
) -> Pubkey:
    address = metadata_address(mint)
    data = TokenMetadata(update_authority, mint, name, symbol, uri).encode()
    write_account(cluster, address=address, data=data, owner=METAPLEX_METADATA_PROGRAM_ID)
    return address


def seed_pumpfun_global(
    cluster: Cluster,
    *,
    fee_basis_points: int = PUMP_FEE_BASIS_POINTS,
    creator_fee_basis_points: int = PUMP_CREATOR_FEE_BASIS_POINTS,
) -> Pubkey:
    """Create (or overwrite) pump.fun's Global with mainnet's recipients (each funded
    rent-exempt, so fees can land) and launch parameters."""
    address = pfs.global_address()
    state = pfs.Global(
        initialized=True,
        authority=PUMP_FEE_RECIPIENTS[0],
        fee_recipient=PUMP_FEE_RECIPIENTS[0],
        initial_virtual_token_reserves=PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES,
        initial_virtual_sol_reserves=PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
        initial_real_token_reserves=PUMP_INITIAL_REAL_TOKEN_RESERVES,
        token_total_supply=PUMP_TOKEN_TOTAL_SUPPLY,
        fee_basis_points=fee_basis_points,
        withdraw_authority=PUMP_FEE_RECIPIENTS[0],
        enable_migrate=True,
        pool_migration_fee=15_000_001,
        creator_fee_basis_points=creator_fee_basis_points,
        fee_recipients=PUMP_FEE_RECIPIENTS[1:],
        set_creator_authority=PUMP_FEE_RECIPIENTS[0],
        admin_set_creator_authority=PUMP_FEE_RECIPIENTS[0],
        create_v2_enabled=True,
        whitelist_pda=Pubkey.default(),
        reserved_fee_recipient=PUMP_RESERVED_FEE_RECIPIENTS[0],
        mayhem_mode_enabled=True,
        reserved_fee_recipients=PUMP_RESERVED_FEE_RECIPIENTS[1:],
        is_cashback_enabled=True,
        buyback_fee_recipients=PUMP_BUYBACK_FEE_RECIPIENTS,
        buyback_basis_points=0,
        initial_virtual_quote_reserves=PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
        whitelisted_quote_mints=(Pubkey.default(),),
    )
    data = state.encode()
    write_account(cluster, address=address, data=data, owner=pfs.PROGRAM_ID)
    for recipient in (
        *PUMP_FEE_RECIPIENTS,
        *PUMP_RESERVED_FEE_RECIPIENTS,
        *PUMP_BUYBACK_FEE_RECIPIENTS,
    ):
        if cluster.get_account(recipient) is None:
            fund(cluster, address=recipient, lamports=_rent(cluster, 0))
    return address


def seed_pumpfun_fee_config(
    cluster: Cluster, *, tiers: tuple[FeeTier, ...] = PUMP_FEE_TIERS
) -> Pubkey:
    """The fee program's FeeConfig for pump.fun (its market-cap tiers)."""
    return seed_fee_config(cluster, program_id=pfs.PROGRAM_ID, flat_fees=tiers[0].fees, tiers=tiers)


def launch_curve(
    *, creator: Pubkey, cashback: bool = False, mayhem: bool = False
) -> pfs.BondingCurve:
    """A curve in pump.fun's launch state."""
    return pfs.BondingCurve(
        virtual_token_reserves=PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES,
        virtual_quote_reserves=PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
        real_token_reserves=PUMP_INITIAL_REAL_TOKEN_RESERVES,
        real_quote_reserves=0,
        token_total_supply=PUMP_TOKEN_TOTAL_SUPPLY,
        complete=False,
        creator=creator,
        is_mayhem_mode=mayhem,
        is_cashback_coin=cashback,
    )


def seed_pumpfun_curve(
    cluster: Cluster,
    *,
    mint: Pubkey,
    curve: pfs.BondingCurve | None = None,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
    creator: Pubkey | None = None,
) -> PumpSeed:
    """A bonding curve for `mint` (pump.fun's launch state, by a random creator, unless
    `curve` is given) in its 115-byte layout; its token account holds the real reserves plus
    the supply kept back for migration; the creator vault exists (rent-exempt)."""
    global_account = (
        seed_pumpfun_global(cluster)
        if cluster.get_account(pfs.global_address()) is None
        else pfs.global_address()
    )
    if cluster.get_account(pfs.fee_config_address()) is None:
        seed_pumpfun_fee_config(cluster)
    curve = curve or launch_curve(creator=creator or Keypair().pubkey())
    address = pfs.bonding_curve_address(mint)
    data = curve.encode()
    write_account(
        cluster,
        address=address,
        data=data,
        owner=pfs.PROGRAM_ID,
        extra_lamports=curve.real_quote_reserves,
    )
    creator_vault = pfs.creator_vault_address(curve.creator)
    if cluster.get_account(creator_vault) is None:
        fund(cluster, address=creator_vault, lamports=_rent(cluster, 0))
    # A live curve also holds the supply kept back for migration; `migrate` empties it.
    held = (
        0
        if curve.complete
        else curve.real_token_reserves + curve.token_total_supply - PUMP_INITIAL_REAL_TOKEN_RESERVES
    )
    associated = ata_address(owner=address, mint=mint, token_program=token_program)
    create_token_account(
        cluster,
        address=associated,
        mint=mint,
        owner=address,
        amount=max(held, 0),
        token_program=token_program,
    )
    return PumpSeed(address, associated, global_account, curve.creator, creator_vault)


def migrated_curve(*, creator: Pubkey | None = None) -> pfs.BondingCurve:
    """A curve whose real token reserves ran out: `complete`, liquidity moved to PumpSwap."""
    return pfs.BondingCurve(
        virtual_token_reserves=PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES
        - PUMP_INITIAL_REAL_TOKEN_RESERVES,
        virtual_quote_reserves=115_005_359_056,
        real_token_reserves=0,
        real_quote_reserves=0,
        token_total_supply=PUMP_TOKEN_TOTAL_SUPPLY,
        complete=True,
        creator=creator or Keypair().pubkey(),
    )


def _is_program_address(seeds: list[bytes], program: Pubkey) -> bool:
    digest = hashlib.sha256(b"".join(seeds) + bytes(program) + b"ProgramDerivedAddress").digest()
    return not Pubkey.from_bytes(digest).is_on_curve()


def _market(cluster: Cluster, keys: _Keys, *, mint: Pubkey, label: str) -> Pubkey:
    address = keys.address(f"{label}/market")
    for nonce in range(256):
        state = ray.MarketState(
            address=address,
            vault_signer_nonce=nonce,
            base_mint=mint,
            quote_mint=WSOL_MINT,
            base_vault=keys.address(f"{label}/market-base-vault"),
            quote_vault=keys.address(f"{label}/market-quote-vault"),
            event_queue=keys.address(f"{label}/event-queue"),
            bids=keys.address(f"{label}/bids"),
            asks=keys.address(f"{label}/asks"),
            request_queue=keys.address(f"{label}/request-queue"),
        )
        if not _is_program_address(
            [bytes(address), nonce.to_bytes(8, "little")], OPENBOOK_PROGRAM_ID
        ):
            continue  # an on-curve result is no PDA; OpenBook also moves on to the next nonce
        data = state.encode()
        write_account(cluster, address=address, data=data, owner=OPENBOOK_PROGRAM_ID)
        return address
    raise RuntimeError("no valid vault-signer nonce for the market")


def seed_raydium_pool(
    cluster: Cluster,
    *,
    mint: Pubkey,
    decimals: int,
    token_reserve: int,
    sol_reserve: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
    openbook_market: bool = False,
    key_seed: bytes | None = None,
) -> RaydiumSeed:
    """A SwapOnly AMM v4 pool (coin = token, pc = WSOL) with vaults owned by the authority PDA,
    in the `AmmInfo` layout the real program reads.

    By default the pool is what the 19-account `initialize2` creates today: no OpenBook market
    (`open_orders` and `market_program` default, `market` a mere seed key). With
    `openbook_market` it is an older pool with a serum market account (and its open orders).
    The program only accepts SPL Token mints."""
    if token_program != TOKEN_PROGRAM_ID:
        raise ValueError("Raydium AMM v4 only trades SPL Token mints (not Token-2022)")
    keys = _Keys(key_seed)
    label = f"raydium/{mint}"
    amm = keys.address(f"{label}/amm")
    nonce = Pubkey.find_program_address([ray.AUTHORITY_SEED], ray.PROGRAM_ID)[1]
    authority = ray.authority_address(nonce)
    coin_vault = create_token_account(
        cluster,
        address=keys.address(f"{label}/coin-vault"),
        mint=mint,
        owner=authority,
        amount=token_reserve,
    )
    pc_vault = create_token_account(
        cluster,
        address=keys.address(f"{label}/pc-vault"),
        mint=WSOL_MINT,
        owner=authority,
        amount=sol_reserve,
    )
    lp_amount = math.isqrt(token_reserve * sol_reserve)
    lp_mint = create_mint(
        cluster,
        address=keys.address(f"{label}/lp-mint"),
        decimals=decimals,
        authority=authority,
        supply=lp_amount,
    )
    if openbook_market:
        market = _market(cluster, keys, mint=mint, label=label)
        open_orders, market_program = keys.address(f"{label}/open-orders"), OPENBOOK_PROGRAM_ID
    else:
        market = keys.address(f"{label}/market-seed")
        open_orders, market_program = Pubkey.default(), Pubkey.default()
    info = ray.AmmInfo(
        status=ray.STATUS_SWAP_ONLY,
        nonce=nonce,
        coin_decimals=decimals,
        pc_decimals=9,
        coin_vault=coin_vault,
        pc_vault=pc_vault,
        coin_mint=mint,
        pc_mint=WSOL_MINT,
        lp_mint=lp_mint,
        open_orders=open_orders,
        market=market,
        market_program=market_program,
        target_orders=keys.address(f"{label}/target-orders"),
        amm_owner=keys.address(f"{label}/owner"),
        lp_amount=lp_amount,
    )
    cluster.set_account(
        amm, Account(_rent(cluster, ray.AMM_INFO_LEN), info.encode(), ray.PROGRAM_ID)
    )
    return RaydiumSeed(
        amm, authority, coin_vault, pc_vault, lp_mint, info.open_orders, info.target_orders, market
    )


# Raydium's mainnet AmmConfig index 0: 0.25 % trade fee, of which 12 % protocol and 4 % fund.
CPMM_TRADE_FEE_RATE = 2_500
CPMM_PROTOCOL_FEE_RATE = 120_000
CPMM_FUND_FEE_RATE = 40_000


def seed_cpmm_config(
    cluster: Cluster,
    *,
    index: int = 0,
    trade_fee_rate: int = CPMM_TRADE_FEE_RATE,
    creator_fee_rate: int = 0,
) -> Pubkey:
    """Write a CPMM `AmmConfig` (only its admin can create one, so it is set directly) and the
    WSOL account `initialize` pays its pool-creation fee to (the fee is 0 here)."""
    address = cpmm.amm_config_address(index)
    bump = Pubkey.find_program_address(
        [cpmm.AMM_CONFIG_SEED, index.to_bytes(2, "big")], cpmm.PROGRAM_ID
    )[1]
    owner = Pubkey.from_bytes(hashlib.sha256(b"volumebot-localnet-cpmm-owner").digest())
    config = cpmm.AmmConfig(
        bump=bump,
        disable_create_pool=False,
        index=index,
        trade_fee_rate=trade_fee_rate,
        protocol_fee_rate=CPMM_PROTOCOL_FEE_RATE,
        fund_fee_rate=CPMM_FUND_FEE_RATE,
        create_pool_fee=0,
        protocol_owner=owner,
        fund_owner=owner,
        creator_fee_rate=creator_fee_rate,
    )
    data = config.encode()
    write_account(cluster, address=address, data=data, owner=cpmm.PROGRAM_ID)
    if cluster.get_account(cpmm.CREATE_POOL_FEE_RECEIVER) is None:
        create_token_account(
            cluster, address=cpmm.CREATE_POOL_FEE_RECEIVER, mint=WSOL_MINT, owner=owner, amount=0
        )
    return address


def _cpmm_initialize(
    *,
    creator: Pubkey,
    amm_config: Pubkey,
    pool: Pubkey,
    mints: tuple[Pubkey, Pubkey],
    programs: tuple[Pubkey, Pubkey],
    creator_accounts: tuple[Pubkey, Pubkey],
    amounts: tuple[int, int],
) -> Instruction:
    """`initialize` with the IDL's 20 accounts (init_amount_0, init_amount_1, open_time 0)."""
    lp_mint = cpmm.lp_mint_address(pool)

    def meta(key: Pubkey, writable: bool = False, signer: bool = False) -> AccountMeta:
        return AccountMeta(key, is_signer=signer, is_writable=writable)

    metas = [
        meta(creator, True, True),
        meta(amm_config),
        meta(cpmm.authority_address()),
        meta(pool, True),
        meta(mints[0]),
        meta(mints[1]),
        meta(lp_mint, True),
        meta(creator_accounts[0], True),
        meta(creator_accounts[1], True),
        meta(ata_address(owner=creator, mint=lp_mint), True),
        meta(cpmm.vault_address(pool=pool, mint=mints[0]), True),
        meta(cpmm.vault_address(pool=pool, mint=mints[1]), True),
        meta(cpmm.CREATE_POOL_FEE_RECEIVER, True),
        meta(cpmm.observation_address(pool), True),
        meta(TOKEN_PROGRAM_ID),
        meta(programs[0]),
        meta(programs[1]),
        meta(ASSOCIATED_TOKEN_PROGRAM_ID),
        meta(SYSTEM_PROGRAM_ID),
        meta(RENT_SYSVAR_ID),
    ]
    data = cpmm.INITIALIZE_DISCRIMINATOR + struct.pack("<QQQ", *amounts, 0)
    return Instruction(cpmm.PROGRAM_ID, data, metas)


def seed_cpmm_pool(
    cluster: Cluster,
    *,
    mint: Pubkey,
    token_reserve: int,
    sol_reserve: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
    key_seed: bytes | None = None,
) -> CpmmSeed:
    """A token/WSOL CPMM pool created by the program's own `initialize` (the mint must exist);
    the creator is a throw-away wallet holding the LP tokens. The cluster's clock then moves
    one second on: `initialize` opens a pool one second after its block."""
    keys = _Keys(key_seed)
    amm_config = cpmm.amm_config_address(0)
    if cluster.get_account(amm_config) is None:
        seed_cpmm_config(cluster)
    creator = keys.keypair(f"cpmm/{mint}/creator")
    fund(cluster, address=creator.pubkey(), lamports=LAMPORTS_PER_SOL)
    token_account = create_token_account(
        cluster,
        address=ata_address(owner=creator.pubkey(), mint=mint, token_program=token_program),
        mint=mint,
        owner=creator.pubkey(),
        amount=token_reserve,
        token_program=token_program,
    )
    wsol_account = create_token_account(
        cluster,
        address=ata_address(owner=creator.pubkey(), mint=WSOL_MINT),
        mint=WSOL_MINT,
        owner=creator.pubkey(),
        amount=sol_reserve,
    )
    # `initialize` wants token_0_mint < token_1_mint (by their bytes).
    sides = sorted(
        [(mint, token_program, token_account, token_reserve),
         (WSOL_MINT, TOKEN_PROGRAM_ID, wsol_account, sol_reserve)],
        key=lambda side: bytes(side[0]),
    )  # fmt: skip
    mints = (sides[0][0], sides[1][0])
    pool = cpmm.pool_address(amm_config=amm_config, token_0_mint=mints[0], token_1_mint=mints[1])
    ix = _cpmm_initialize(
        creator=creator.pubkey(),
        amm_config=amm_config,
        pool=pool,
        mints=mints,
        programs=(sides[0][1], sides[1][1]),
        creator_accounts=(sides[0][2], sides[1][2]),
        amounts=(sides[0][3], sides[1][3]),
    )
    blockhash, _ = cluster.latest_blockhash()
    message = MessageV0.try_compile(
        creator.pubkey(), [set_compute_unit_limit(400_000), ix], [], blockhash
    )
    cluster.send(VersionedTransaction(message, [creator]))
    cluster.advance_time(1)
    return CpmmSeed(
        pool=pool,
        amm_config=amm_config,
        token_0_vault=cpmm.vault_address(pool=pool, mint=mints[0]),
        token_1_vault=cpmm.vault_address(pool=pool, mint=mints[1]),
        lp_mint=cpmm.lp_mint_address(pool),
        observation=cpmm.observation_address(pool),
    )


def seed_token(
    cluster: Cluster,
    *,
    name: str = "Localnet Token",
    symbol: str = "LOCAL",
    uri: str = "",
    decimals: int = 6,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
    raydium_reserves: tuple[int, int] | None = (500_000_000_000_000, 200 * LAMPORTS_PER_SOL),
    pumpfun: bool = True,
    pumpfun_curve: pfs.BondingCurve | None = None,
    cpmm_reserves: tuple[int, int] | None = None,
    wallets: int = 2,
    wallet_lamports: int = 100 * LAMPORTS_PER_SOL,
    key_seed: bytes | None = None,
) -> SeededToken:
    """A mint with metadata, optionally a Raydium AMM v4 pool and a Raydium CPMM pool (each
    (token raw, lamports)) and a pump.fun curve (`pumpfun_curve`, e.g. `migrated_curve()`),
    plus funded wallets. AMM v4 only takes SPL Token mints; CPMM and pump.fun take both."""
    keys = _Keys(key_seed)
    mint_authority = keys.keypair("mint-authority")
    fund(cluster, address=mint_authority.pubkey(), lamports=LAMPORTS_PER_SOL)
    mint = keys.address("mint")
    supply = 0
    raydium = pump = cpmm_pool = None
    if raydium_reserves is not None:
        raydium = seed_raydium_pool(
            cluster,
            mint=mint,
            decimals=decimals,
            token_reserve=raydium_reserves[0],
            sol_reserve=raydium_reserves[1],
            token_program=token_program,
            key_seed=key_seed,
        )
        supply += raydium_reserves[0]
    if pumpfun:
        pump = seed_pumpfun_curve(
            cluster, mint=mint, curve=pumpfun_curve, token_program=token_program,
            creator=keys.address("pumpfun/creator"),
        )  # fmt: skip
        acc = cluster.get_account(pump.associated_curve)
        supply += TokenAccount.from_bytes(bytes(acc.data)[:TOKEN_ACCOUNT_LEN]).amount
    if cpmm_reserves is not None:
        # The program's `initialize` reads the mint: it exists before, its supply is set below.
        create_mint(
            cluster, address=mint, decimals=decimals, authority=mint_authority.pubkey(),
            token_program=token_program,
        )  # fmt: skip
        cpmm_pool = seed_cpmm_pool(
            cluster,
            mint=mint,
            token_reserve=cpmm_reserves[0],
            sol_reserve=cpmm_reserves[1],
            token_program=token_program,
            key_seed=key_seed,
        )
        supply += cpmm_reserves[0]
    create_mint(
        cluster,
        address=mint,
        decimals=decimals,
        authority=mint_authority.pubkey(),
        supply=supply,
        token_program=token_program,
    )
    metadata = seed_metadata(
        cluster,
        mint=mint,
        name=name,
        symbol=symbol,
        uri=uri,
        update_authority=mint_authority.pubkey(),
    )
    funded = tuple(keys.keypair(f"wallet/{i}") for i in range(wallets))
    for wallet in funded:
        fund(cluster, address=wallet.pubkey(), lamports=wallet_lamports)
    return SeededToken(
        mint, decimals, token_program, metadata, mint_authority, raydium, pump, cpmm_pool, funded
    )


def demo_keys() -> tuple[Pubkey, Keypair]:
    """The demo token's mint and its first funded wallet, known without a cluster: `make run`
    gives the demo account this wallet and registers this mint."""
    keys = _Keys(DEMO_KEY_SEED)
    return keys.address("mint"), keys.keypair("wallet/0")


def seed_demo(cluster: Cluster) -> SeededToken:
    """The demo token and pools `make run` shows: Raydium AMM v4, Raydium CPMM and pump.fun
    (fixed keys, so they survive restarts)."""
    return seed_token(
        cluster,
        name="Volumebot Demo",
        symbol="VBDEMO",
        uri="https://localnet.invalid/demo.json",
        cpmm_reserves=(200_000_000_000_000, 80 * LAMPORTS_PER_SOL),
        key_seed=DEMO_KEY_SEED,
    )
