"""Seed PumpSwap: its GlobalConfig and FeeConfig with mainnet's recipients and fee tiers, and
canonical pools (as pump.fun's `migrate` leaves them) in the 245-byte `Pool` layout; plus the
pump coins the localnet shows: a live curve, a completed curve with its pool, a Token-2022 coin
and a cashback coin.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.state import Mint

from apps.chain.constants import LAMPORTS_PER_SOL, TOKEN_2022_PROGRAM_ID, WSOL_MINT
from apps.chain.dex import pumpswap_state as pss
from apps.chain.dex.pumpfees import Fees, FeeTier
from apps.chain.spl import MINT_LEN, ata_address, decode_mint
from apps.localnet.cluster import Cluster
from apps.localnet.seed import (
    PUMP_BUYBACK_FEE_RECIPIENTS,
    PUMP_FEE_RECIPIENTS,
    PUMP_RESERVED_FEE_RECIPIENTS,
    SeededToken,
    create_token_account,
    fund,
    launch_curve,
    migrated_curve,
    seed_fee_config,
    seed_token,
    write_account,
)

# PumpSwap's fallback rates (GlobalConfig on mainnet, PUMP_SWAP_README.md): 20 + 5 bps.
PUMPSWAP_LP_FEE_BPS = 20
PUMPSWAP_PROTOCOL_FEE_BPS = 5
# The first tiers of mainnet's canonical-pool fees by market cap (docs/fees.png).
PUMPSWAP_FEE_TIERS = (
    FeeTier(0, Fees(lp_fee_bps=2, protocol_fee_bps=93, creator_fee_bps=30)),
    FeeTier(420 * LAMPORTS_PER_SOL, Fees(lp_fee_bps=20, protocol_fee_bps=5, creator_fee_bps=95)),
    FeeTier(1470 * LAMPORTS_PER_SOL, Fees(lp_fee_bps=20, protocol_fee_bps=5, creator_fee_bps=90)),
)
PUMPSWAP_FLAT_FEES = Fees(lp_fee_bps=20, protocol_fee_bps=5, creator_fee_bps=0)


@dataclass(frozen=True)
class PumpSwapSeed:
    pool: Pubkey
    base_vault: Pubkey
    quote_vault: Pubkey
    coin_creator: Pubkey
    coin_creator_vault_ata: Pubkey


def _wsol_account(cluster: Cluster, owner: Pubkey, amount: int = 0) -> Pubkey:
    address = ata_address(owner=owner, mint=WSOL_MINT)
    if cluster.get_account(address) is None:
        if cluster.get_account(owner) is None:
            fund(cluster, address=owner, lamports=cluster.minimum_balance_for_rent_exemption(0))
        create_token_account(cluster, address=address, mint=WSOL_MINT, owner=owner, amount=amount)
    return address


def seed_pumpswap_config(cluster: Cluster) -> Pubkey:
    """GlobalConfig and the fee program's FeeConfig for PumpSwap; every fee recipient gets its
    WSOL ATA (fees are paid in WSOL)."""
    config = pss.GlobalConfig(
        admin=PUMP_FEE_RECIPIENTS[0],
        lp_fee_basis_points=PUMPSWAP_LP_FEE_BPS,
        protocol_fee_basis_points=PUMPSWAP_PROTOCOL_FEE_BPS,
        disable_flags=0,
        protocol_fee_recipients=PUMP_FEE_RECIPIENTS,
        coin_creator_fee_basis_points=5,
        admin_set_coin_creator_authority=PUMP_FEE_RECIPIENTS[0],
        whitelist_pda=Pubkey.default(),
        reserved_fee_recipient=PUMP_RESERVED_FEE_RECIPIENTS[0],
        mayhem_mode_enabled=True,
        reserved_fee_recipients=PUMP_RESERVED_FEE_RECIPIENTS[1:],
        is_cashback_enabled=True,
        buyback_fee_recipients=PUMP_BUYBACK_FEE_RECIPIENTS,
        buyback_basis_points=0,
    )
    address = pss.global_config_address()
    data = config.encode()
    write_account(cluster, address=address, data=data, owner=pss.PROGRAM_ID)
    seed_fee_config(
        cluster, program_id=pss.PROGRAM_ID, flat_fees=PUMPSWAP_FLAT_FEES, tiers=PUMPSWAP_FEE_TIERS
    )
    for recipient in (
        *PUMP_FEE_RECIPIENTS,
        *PUMP_RESERVED_FEE_RECIPIENTS,
        *PUMP_BUYBACK_FEE_RECIPIENTS,
    ):
        _wsol_account(cluster, recipient)
    return address


def seed_pumpswap_pool(
    cluster: Cluster,
    *,
    mint: Pubkey,
    base_reserve: int,
    quote_reserve: int,
    coin_creator: Pubkey | None = None,
    cashback: bool = False,
    mayhem: bool = False,
) -> PumpSwapSeed:
    """The mint's canonical WSOL pool holding these reserves (the mint must exist; its supply
    grows by `base_reserve`)."""
    if cluster.get_account(pss.global_config_address()) is None:
        seed_pumpswap_config(cluster)
    mint_acc = cluster.get_account(mint)
    token_program = mint_acc.owner
    creator = pss.pool_authority_address(mint)
    address = pss.canonical_pool_address(base_mint=mint, quote_mint=WSOL_MINT)
    base_vault = ata_address(owner=address, mint=mint, token_program=token_program)
    quote_vault = ata_address(owner=address, mint=WSOL_MINT)
    coin_creator = coin_creator or Keypair().pubkey()
    pool = pss.Pool(
        pool_bump=Pubkey.find_program_address(
            [b"pool", b"\0\0", bytes(creator), bytes(mint), bytes(WSOL_MINT)], pss.PROGRAM_ID
        )[1],
        index=pss.CANONICAL_POOL_INDEX,
        creator=creator,
        base_mint=mint,
        quote_mint=WSOL_MINT,
        lp_mint=Pubkey.find_program_address([b"pool_lp_mint", bytes(address)], pss.PROGRAM_ID)[0],
        pool_base_token_account=base_vault,
        pool_quote_token_account=quote_vault,
        lp_supply=0,
        coin_creator=coin_creator,
        is_mayhem_mode=mayhem,
        is_cashback_coin=cashback,
    )
    data = pool.encode()
    write_account(cluster, address=address, data=data, owner=pss.PROGRAM_ID)
    create_token_account(
        cluster,
        address=base_vault,
        mint=mint,
        owner=address,
        amount=base_reserve,
        token_program=token_program,
    )
    _wsol_account(cluster, address, quote_reserve)
    state = decode_mint(bytes(mint_acc.data))
    grown = Mint(
        mint_authority=state.mint_authority,
        supply=state.supply + base_reserve,
        decimals=state.decimals,
        is_initialized=True,
        freeze_authority=state.freeze_authority,
    )
    cluster.set_account(
        mint,
        Account(mint_acc.lamports, bytes(grown) + bytes(mint_acc.data)[MINT_LEN:], token_program),
    )
    vault_ata = _wsol_account(cluster, pss.coin_creator_vault_authority_address(coin_creator))
    return PumpSwapSeed(address, base_vault, quote_vault, coin_creator, vault_ata)


@dataclass(frozen=True)
class PumpCoins:
    live: SeededToken
    migrated: SeededToken
    migrated_pool: PumpSwapSeed
    token2022: SeededToken
    cashback: SeededToken


def seed_pump_coins(cluster: Cluster, *, wallets: int = 2) -> PumpCoins:
    """The pump coins of the localnet: a live curve, a completed one with its canonical
    PumpSwap pool (the reserves `migrate` moves), a Token-2022 coin and a cashback coin."""

    def coin(symbol: str, **kwargs) -> SeededToken:
        return seed_token(
            cluster, name=f"Pump {symbol}", symbol=symbol, raydium_reserves=None,
            wallets=wallets, **kwargs,
        )  # fmt: skip

    live = coin("PLIVE")
    migrated = coin("PDONE", pumpfun_curve=migrated_curve())
    pool = seed_pumpswap_pool(
        cluster,
        mint=migrated.mint,
        base_reserve=206_900_000_000_000,
        quote_reserve=84_990_359_056,
        coin_creator=migrated.pumpfun.creator,
    )
    token2022 = coin("P2022", token_program=TOKEN_2022_PROGRAM_ID)
    cashback = coin(
        "PCASH",
        token_program=TOKEN_2022_PROGRAM_ID,
        pumpfun_curve=launch_curve(creator=Keypair().pubkey(), cashback=True),
    )
    return PumpCoins(live, migrated, pool, token2022, cashback)
