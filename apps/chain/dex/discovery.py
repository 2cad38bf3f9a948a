"""Pool discovery for a mint across every venue, summarised for people choosing a pool.

Reads only the chain (no third-party API). Unlike `registry.find_pools`, discovery also reports
pump.fun curves that completed (migrated), so a user sees why that venue no longer applies, next
to the PumpSwap pool the coin moved to.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL, WSOL_MINT
from apps.chain.dex import pumpfun as pf
from apps.chain.dex import pumpfun_state as pfs
from apps.chain.dex.base import BPS
from apps.chain.dex.pumpfees import FeeConfig, fee_config_from_account
from apps.chain.dex.pumpswap import PumpSwap, PumpSwapState
from apps.chain.dex.raydium_amm_v4 import RaydiumAmmV4, RaydiumPoolState
from apps.chain.dex.raydium_cpmm import CpmmPoolState, RaydiumCpmm
from apps.chain.errors import DexError, PoolNotFound
from apps.chain.token_info import decode_mint


@dataclass(frozen=True)
class PoolSummary:
    """One pool as the tokens pages and API show it. Amounts are raw integers; `price_sol`
    (SOL per whole token) is a display string, never used for value."""

    dex: str
    venue: str
    address: str
    base_mint: str
    quote_mint: str
    base_reserve_raw: int
    quote_reserve_lamports: int
    price_sol: str
    liquidity_lamports: int
    fee_bps: int
    migrated: bool
    progress_bps: int | None


def _price(*, lamports: int, raw_tokens: int, decimals: int) -> str:
    if raw_tokens <= 0:
        return "0"
    with localcontext() as context:
        context.prec = 12  # display precision
        price = (Decimal(lamports) / LAMPORTS_PER_SOL) / (Decimal(raw_tokens) / 10**decimals)
    return format(price.normalize(), "f")


def _constant_product(
    *,
    dex: str,
    venue: str,
    address: Pubkey,
    token_mint: Pubkey,
    sol: int,
    tokens: int,
    fee_bps: int,
    decimals: int,
) -> PoolSummary:
    """A SOL pool priced on its reserves (Raydium AMM v4 and CPMM, PumpSwap)."""
    return PoolSummary(
        dex=dex,
        venue=venue,
        address=str(address),
        base_mint=str(token_mint),
        quote_mint=str(WSOL_MINT),
        base_reserve_raw=tokens,
        quote_reserve_lamports=sol,
        price_sol=_price(lamports=sol, raw_tokens=tokens, decimals=decimals),
        # Both sides of a constant-product pool hold equal value: twice the SOL side.
        liquidity_lamports=2 * sol,
        fee_bps=fee_bps,
        migrated=False,
        progress_bps=None,
    )


def _raydium(state: RaydiumPoolState, *, decimals: int) -> PoolSummary:
    sol, tokens = (
        (state.coin_reserve, state.pc_reserve)
        if state.sol_is_coin
        else (state.pc_reserve, state.coin_reserve)
    )
    return _constant_product(
        dex=RaydiumAmmV4.name,
        venue="Raydium AMM v4",
        address=state.address,
        token_mint=state.token_mint,
        sol=sol,
        tokens=tokens,
        fee_bps=state.amm.swap_fee_numerator * BPS // state.amm.swap_fee_denominator,
        decimals=decimals,
    )


def _cpmm(state: CpmmPoolState, *, decimals: int) -> PoolSummary:
    return _constant_product(
        dex=RaydiumCpmm.name,
        venue="Raydium CPMM",
        address=state.address,
        token_mint=state.token_mint,
        sol=state.sol_reserve,
        tokens=state.token_reserve,
        fee_bps=state.fee_bps,
        decimals=decimals,
    )


def _pumpswap(state: PumpSwapState, *, decimals: int) -> PoolSummary:
    return _constant_product(
        dex=PumpSwap.name,
        venue="PumpSwap",
        address=state.address,
        token_mint=state.mint,
        sol=state.quote_reserve,
        tokens=state.base_reserve,
        fee_bps=state.fees.total_bps,
        decimals=decimals,
    )


def _pumpfun(
    *,
    address: Pubkey,
    mint: Pubkey,
    curve: pfs.BondingCurve,
    global_state: pfs.Global,
    fee_config: FeeConfig | None,
    decimals: int,
) -> PoolSummary:
    fees = pfs.curve_fees(curve=curve, global_state=global_state, fee_config=fee_config)
    initial = global_state.initial_real_token_reserves
    sold = max(0, initial - curve.real_token_reserves)
    progress = BPS if curve.complete else (sold * BPS // initial if initial else 0)
    return PoolSummary(
        dex=pf.PumpFun.name,
        venue="pump.fun bonding curve",
        address=str(address),
        base_mint=str(mint),
        # Coins quoted in anything but SOL show their quote mint (and cannot be registered).
        quote_mint=str(WSOL_MINT if curve.sol_quoted else curve.quote_mint),
        base_reserve_raw=curve.real_token_reserves,
        quote_reserve_lamports=curve.real_quote_reserves,
        # The curve prices on its virtual reserves.
        price_sol=_price(
            lamports=curve.virtual_quote_reserves,
            raw_tokens=curve.virtual_token_reserves,
            decimals=decimals,
        ),
        liquidity_lamports=curve.real_quote_reserves,
        fee_bps=fees.protocol_fee_bps + fees.creator_fee_bps,
        migrated=curve.complete,
        progress_bps=progress,
    )


async def discover_pools(*, rpc, mint: Pubkey) -> list[PoolSummary]:
    """Every SOL pool of `mint`: Raydium AMM v4 and CPMM pools, its pump.fun curve (live or
    migrated) and its PumpSwap pools. A mint with no account has no pools."""
    curve_address = pfs.bonding_curve_address(mint)
    accounts = await rpc.call(
        "getMultipleAccounts",
        lambda c: c.get_multiple_accounts(
            [mint, curve_address, pfs.global_address(), pfs.fee_config_address()]
        ),
    )
    mint_account, curve_account, global_account, fee_config_account = accounts.value
    if mint_account is None:
        return []
    decimals = decode_mint(
        address=mint, owner=mint_account.owner, data=bytes(mint_account.data)
    ).decimals
    summaries = []
    for adapter, summarise in (
        (RaydiumAmmV4(), _raydium),
        (RaydiumCpmm(), _cpmm),
        (PumpSwap(), _pumpswap),
    ):
        for ref in await adapter.find_pools(rpc=rpc, mint=mint):
            state = await adapter.load_state(rpc=rpc, address=ref.address)
            summaries.append(summarise(state, decimals=decimals))
    if (
        curve_account is not None
        and curve_account.owner == pfs.PROGRAM_ID
        and global_account is not None
    ):
        summaries.append(
            _pumpfun(
                address=curve_address,
                mint=mint,
                curve=pfs.BondingCurve.decode(bytes(curve_account.data)),
                global_state=pfs.Global.decode(bytes(global_account.data)),
                fee_config=fee_config_from_account(fee_config_account),
                decimals=decimals,
            )
        )
    return summaries


@dataclass(frozen=True)
class PoolWatch:
    summary: PoolSummary
    accounts: tuple[Pubkey, ...]


async def pool_read(*, rpc, dex: str, address: Pubkey, mint: Pubkey) -> PoolWatch:
    """One pool read now (its summary: reserves and price) and the accounts whose changes move
    its price, which a live price feed subscribes to."""
    mint_resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(mint))
    if mint_resp.value is None:
        raise PoolNotFound(f"{mint} has no account")
    decimals = decode_mint(
        address=mint, owner=mint_resp.value.owner, data=bytes(mint_resp.value.data)
    ).decimals
    if dex == RaydiumAmmV4.name:
        state = await RaydiumAmmV4().load_state(rpc=rpc, address=address)
        return PoolWatch(_raydium(state, decimals=decimals),
                         (state.amm.coin_vault, state.amm.pc_vault))  # fmt: skip
    if dex == RaydiumCpmm.name:
        state = await RaydiumCpmm().load_state(rpc=rpc, address=address)
        return PoolWatch(_cpmm(state, decimals=decimals),
                         (state.pool.token_0_vault, state.pool.token_1_vault))  # fmt: skip
    if dex == PumpSwap.name:
        state = await PumpSwap().load_state(rpc=rpc, address=address)
        vaults = (state.pool.pool_base_token_account, state.pool.pool_quote_token_account)
        return PoolWatch(_pumpswap(state, decimals=decimals), vaults)
    if dex == pf.PumpFun.name:
        state = await pf.PumpFun().load_state(rpc=rpc, address=address, mint=mint)
        summary = _pumpfun(
            address=address, mint=mint, curve=state.curve, global_state=state.global_state,
            fee_config=state.fee_config, decimals=decimals,
        )  # fmt: skip
        return PoolWatch(summary, (address,))
    raise DexError(f"unknown venue {dex!r}")
