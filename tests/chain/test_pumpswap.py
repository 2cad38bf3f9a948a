"""PumpSwap (pump_amm): golden account lists from the official IDL, layouts at the IDL's
offsets, discovery by mint, and trades on the localnet charging the tiered LP, protocol and
coin-creator fees into the right accounts, to the raw unit."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import (
    LAMPORTS_PER_SOL,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex import pumpswap as ps
from apps.chain.dex import pumpswap_state as pss
from apps.chain.dex.base import Side
from apps.chain.dex.registry import find_pools, get_adapter
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import ata_address
from apps.chain.tx import ConfirmStatus
from apps.localnet import Cluster, create_app
from apps.localnet.seed import (
    PUMP_BUYBACK_FEE_RECIPIENTS,
    PUMP_FEE_RECIPIENTS,
    PUMP_RESERVED_FEE_RECIPIENTS,
    migrated_curve,
    seed_token,
)
from apps.localnet.seed_pump import seed_pump_coins, seed_pumpswap_pool

from .conftest import balance, execute, tokens
from .pump_idl_support import (
    AMM_PROGRAM,
    account_discriminator,
    account_layout,
    assert_same_accounts,
    expected_data,
    expected_pumpswap,
)

FEE = 5_000
BASE, QUOTE = 206_900_000_000_000, 84_990_359_056
COINS = {
    "plain": dict(token_program=TOKEN_PROGRAM_ID, cashback=False, mayhem=False),
    "token2022": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=False, mayhem=False),
    "cashback": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=True, mayhem=False),
    "mayhem": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=False, mayhem=True),
}


def _migrated(cluster, kind="plain", *, wallet_lamports=100 * LAMPORTS_PER_SOL):
    coin = COINS[kind]
    seeded = seed_token(
        cluster,
        raydium_reserves=None,
        token_program=coin["token_program"],
        pumpfun_curve=migrated_curve(),
        wallet_lamports=wallet_lamports,
    )
    pool = seed_pumpswap_pool(
        cluster,
        mint=seeded.mint,
        base_reserve=BASE,
        quote_reserve=QUOTE,
        coin_creator=seeded.pumpfun.creator,
        cashback=coin["cashback"],
        mayhem=coin["mayhem"],
    )
    return seeded, pool


# -- layouts and golden account lists -------------------------------------------------------


def test_it_lays_out_pool_and_global_config_at_the_idl_offsets():
    keys = [Keypair().pubkey() for _ in range(40)]
    pool = pss.Pool(254, 3, *keys[:6], 77, keys[6], True, False)
    config = pss.GlobalConfig(
        keys[7], 20, 5, 1, tuple(keys[8:16]), 5, keys[16], keys[17], keys[18], True,
        tuple(keys[19:26]), True, tuple(keys[26:34]), 10,
    )  # fmt: skip

    for name, value, layout_name in (
        ("Pool", pool, "Pool"),
        ("GlobalConfig", config, "GlobalConfig"),
    ):
        data = value.encode()
        layout = account_layout("pump_amm", layout_name)
        assert len(data) == layout["__len__"][0], name
        assert data[:8] == account_discriminator("pump_amm", layout_name)
        assert type(value).decode(data) == value

    data, layout = pool.encode(), account_layout("pump_amm", "Pool")
    offset, _ = layout["base_mint"]
    assert (offset, pss.POOL_BASE_MINT_OFFSET) == (43, 43)
    assert data[offset : offset + 32] == bytes(keys[1])
    assert layout["quote_mint"][0] == pss.POOL_QUOTE_MINT_OFFSET
    assert data[layout["coin_creator"][0] :][:32] == bytes(keys[6])
    data, layout = config.encode(), account_layout("pump_amm", "GlobalConfig")
    offset, size = layout["buyback_fee_recipients"]
    assert data[offset : offset + size] == b"".join(map(bytes, keys[26:34]))


@pytest.mark.parametrize("kind", sorted(COINS))
async def test_it_builds_pumpswap_buy_and_sell_exactly_as_the_idl_prescribes(rpc, cluster, kind):
    seeded, seed = _migrated(cluster, kind)
    adapter = get_adapter("pumpswap")
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    user = seeded.wallets[0].pubkey()
    buy_quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    buy = adapter.build_buy(state=state, owner=user, quote=buy_quote, slippage_bps=100)
    sell_quote = adapter.quote(state=state, side=Side.SELL, amount_in=buy_quote.amount_out)
    sell = adapter.build_sell(state=state, owner=user, quote=sell_quote, slippage_bps=100)
    buy_ix = next(ix for ix in buy if ix.program_id == AMM_PROGRAM)
    sell_ix = next(ix for ix in sell if ix.program_id == AMM_PROGRAM)

    assert state.base_token_program == COINS[kind]["token_program"]
    cashback = COINS[kind]["cashback"]
    for name, ix, count in (
        ("buy", buy_ix, 27 if cashback else 26),
        ("sell", sell_ix, 26 if cashback else 24),
    ):
        recipient, buyback = ix.accounts[9].pubkey, ix.accounts[-2].pubkey
        allowed = PUMP_RESERVED_FEE_RECIPIENTS if COINS[kind]["mayhem"] else PUMP_FEE_RECIPIENTS
        assert recipient in allowed
        assert buyback in PUMP_BUYBACK_FEE_RECIPIENTS
        expected = expected_pumpswap(
            name,
            pool_address=seed.pool,
            pool=state.pool,
            user=user,
            protocol_fee_recipient=recipient,
            buyback_fee_recipient=buyback,
            base_token_program=COINS[kind]["token_program"],
        )
        assert len(expected) == count
        assert_same_accounts(ix, expected, program=AMM_PROGRAM)
    assert bytes(buy_ix.data) == expected_data(
        "pump_amm", "buy", base_amount_out=buy_quote.amount_out,
        max_quote_amount_in=buy_quote.amount_in * 10_100 // 10_000, track_volume=False,
    )  # fmt: skip
    assert bytes(sell_ix.data) == expected_data(
        "pump_amm", "sell", base_amount_in=sell_quote.amount_in,
        min_quote_amount_out=sell_quote.amount_out * 9_900 // 10_000,
    )  # fmt: skip


async def test_it_names_the_pumpswap_account_a_builder_got_wrong(rpc, cluster):
    seeded, seed = _migrated(cluster, "cashback")
    adapter = get_adapter("pumpswap")
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    user = seeded.wallets[0].pubkey()
    quote = adapter.quote(state=state, side=Side.SELL, amount_in=10**9)
    ix = adapter.build_sell(state=state, owner=user, quote=quote, slippage_bps=0)[1]
    expected = expected_pumpswap(
        "sell", pool_address=seed.pool, pool=state.pool, user=user,
        protocol_fee_recipient=ix.accounts[9].pubkey, buyback_fee_recipient=ix.accounts[-2].pubkey,
        base_token_program=TOKEN_2022_PROGRAM_ID,
    )  # fmt: skip
    stranger = Keypair().pubkey()

    for index, want in enumerate(expected):
        metas = list(ix.accounts)
        metas[index] = AccountMeta(stranger, metas[index].is_signer, metas[index].is_writable)
        with pytest.raises(AssertionError, match=rf"#{index} {want.name} "):
            assert_same_accounts(
                Instruction(ix.program_id, bytes(ix.data), metas), expected, program=AMM_PROGRAM
            )


# -- discovery -------------------------------------------------------------------------------


async def test_it_finds_the_canonical_pool_of_a_migrated_coin_by_mint(rpc, cluster):
    seeded, seed = _migrated(cluster)
    other = seed_token(cluster, raydium_reserves=None)

    pools = await find_pools(rpc=rpc, mint=seeded.mint)

    assert [(p.dex, p.address, p.quote_mint) for p in pools] == [("pumpswap", seed.pool, WSOL_MINT)]
    assert seed.pool == pss.pool_address(
        index=0,
        creator=Pubkey.find_program_address(
            [b"pool-authority", bytes(seeded.mint)],
            Pubkey.from_string("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"),
        )[0],
        base_mint=seeded.mint,
        quote_mint=WSOL_MINT,
    )
    assert [p.dex for p in await find_pools(rpc=rpc, mint=other.mint)] == ["pumpfun"]


def test_it_seeds_the_pump_coins_of_the_localnet():
    cluster = Cluster(slot_ms=0)

    coins = seed_pump_coins(cluster)

    assert coins.token2022.token_program == TOKEN_2022_PROGRAM_ID
    assert coins.migrated_pool.pool == pss.canonical_pool_address(
        base_mint=coins.migrated.mint, quote_mint=WSOL_MINT
    )
    pool = pss.Pool.decode(bytes(cluster.get_account(coins.migrated_pool.pool).data))
    assert (pool.coin_creator, pool.canonical) == (coins.migrated.pumpfun.creator, True)


# -- trading ---------------------------------------------------------------------------------


async def _trade_and_check(rpc, cluster, adapter, seeded, seed, trader, side, amount_in):
    """One trade; asserts every account moved by exactly what the quote said."""
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    user = trader.pubkey()
    token_program = state.base_token_program
    base_ata = ata_address(owner=user, mint=seeded.mint, token_program=token_program)
    quote = adapter.quote(state=state, side=side, amount_in=amount_in)
    accounts = state.accounts(user)
    protocol_ata = ata_address(owner=accounts.protocol_fee_recipient, mint=WSOL_MINT)
    watched = (user, protocol_ata, seed.coin_creator_vault_ata)
    before = [await balance(rpc, a) for a in watched]
    vaults = (await tokens(rpc, seed.base_vault), await tokens(rpc, seed.quote_vault))
    held, ata_existed = await tokens(rpc, base_ata), await balance(rpc, base_ata) > 0
    cluster.advance_slots(1)
    build = adapter.build_buy if side == Side.BUY else adapter.build_sell
    result = await execute(
        rpc, trader, build(state=state, owner=user, quote=quote, slippage_bps=0),
        compute_unit_limit=400_000,
    )  # fmt: skip
    assert result.status == ConfirmStatus.LANDED
    fees = state.fees
    if side == Side.BUY:
        gross = quote.amount_in - quote.fee
        lp, protocol, creator = fees.split(gross)
        rent = 0 if ata_existed else await balance(rpc, base_ata)
        assert await tokens(rpc, base_ata) == held + quote.amount_out
        assert (await tokens(rpc, seed.base_vault), await tokens(rpc, seed.quote_vault)) == (
            vaults[0] - quote.amount_out,
            vaults[1] + gross + lp,
        )
        user_delta = -quote.amount_in - rent - FEE
    else:
        gross = quote.amount_out + quote.fee
        lp, protocol, creator = fees.split(gross)
        assert await tokens(rpc, base_ata) == held - quote.amount_in
        assert (await tokens(rpc, seed.base_vault), await tokens(rpc, seed.quote_vault)) == (
            vaults[0] + quote.amount_in,
            vaults[1] - quote.amount_out - protocol - creator,
        )
        user_delta = quote.amount_out - FEE
    assert lp + protocol + creator == quote.fee
    assert [await balance(rpc, a) - b for a, b in zip(watched, before, strict=True)] == [
        user_delta,
        protocol,
        creator,
    ]
    return quote


async def test_it_buys_then_sells_on_pumpswap_with_tiered_and_creator_fees(rpc, cluster):
    seeded, seed = _migrated(cluster)
    adapter, trader = get_adapter("pumpswap"), seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    # Market cap ~85 SOL: the first canonical tier (0.02 % LP, 0.93 % protocol, 0.30 % creator).
    assert (state.fees.lp_fee_bps, state.fees.protocol_fee_bps, state.fees.creator_fee_bps) == (
        2,
        93,
        30,
    )

    bought = await _trade_and_check(
        rpc, cluster, adapter, seeded, seed, trader, Side.BUY, LAMPORTS_PER_SOL
    )
    await _trade_and_check(
        rpc, cluster, adapter, seeded, seed, trader, Side.SELL, bought.amount_out
    )

    wsol = ata_address(owner=trader.pubkey(), mint=WSOL_MINT)
    assert await balance(rpc, wsol) == 0  # nothing stays wrapped


async def test_it_refuses_stale_pumpswap_forms_and_a_wrong_creator_vault(rpc, cluster):
    seeded, seed = _migrated(cluster)
    adapter, trader = get_adapter("pumpswap"), seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 10)
    ixs = adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=100)
    position = next(i for i, ix in enumerate(ixs) if ix.program_id == AMM_PROGRAM)
    buy = ixs[position]
    stale_vault = pss.coin_creator_vault_authority_address(Keypair().pubkey())
    cases = [
        (buy.accounts[:19], 3005),  # AccountNotEnoughKeys: the form before fee_config
        (buy.accounts[:23], ps.ERR_BUYBACK_FEE_RECIPIENT_MISSING),  # before the 2026 upgrade
        (
            [*buy.accounts[:18], AccountMeta(stale_vault, False, False), *buy.accounts[19:]],
            2006,
        ),
        (
            [*buy.accounts[:9], AccountMeta(Keypair().pubkey(), False, False),
             *buy.accounts[10:]],
            2006,  # its quote ATA no longer matches the recipient's derivation
        ),
    ]  # fmt: skip
    start = await balance(rpc, trader.pubkey())
    vaults = (await tokens(rpc, seed.base_vault), await tokens(rpc, seed.quote_vault))

    for metas, code in cases:
        cluster.advance_slots(1)
        broken = [*ixs[:position], Instruction(AMM_PROGRAM, bytes(buy.data), metas)]
        failed = await execute(
            rpc, trader, [*broken, *ixs[position + 1 :]], skip_preflight=True,
            compute_unit_limit=400_000,
        )  # fmt: skip
        assert failed.err == TransactionErrorInstructionError(
            position + 2, InstructionErrorCustom(code)
        )
        start -= FEE
        assert await balance(rpc, trader.pubkey()) == start
        assert (await tokens(rpc, seed.base_vault), await tokens(rpc, seed.quote_vault)) == vaults


async def test_it_fails_a_pumpswap_buy_over_its_limit_with_exceeded_slippage(rpc, cluster):
    seeded, seed = _migrated(cluster)
    adapter, trader = get_adapter("pumpswap"), seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seed.pool)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 10)
    ixs = adapter.build_buy(
        state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0, limit=quote.amount_in - 1
    )
    start = await balance(rpc, trader.pubkey())

    failed = await execute(rpc, trader, ixs, skip_preflight=True, compute_unit_limit=400_000)

    position = next(i for i, ix in enumerate(ixs) if ix.program_id == AMM_PROGRAM)
    assert failed.err == TransactionErrorInstructionError(
        position + 2, InstructionErrorCustom(ps.ERR_EXCEEDED_SLIPPAGE)
    )
    assert await balance(rpc, trader.pubkey()) == start - FEE


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(
    trades=st.lists(
        st.tuples(
            st.integers(min_value=20_000, max_value=40 * LAMPORTS_PER_SOL), st.integers(0, 100)
        ),
        min_size=1,
        max_size=3,
    ),
    kind=st.sampled_from(sorted(COINS)),
)
def test_pumpswap_quotes_equal_what_the_emulated_program_moves(trades, kind):
    async def run():
        cluster = Cluster(slot_ms=0)
        rpc = RpcPool(
            endpoints=[EndpointConfig(name="l", url="http://l/", asgi_app=create_app(cluster))]
        )
        seeded, seed = _migrated(cluster, kind, wallet_lamports=150 * LAMPORTS_PER_SOL)
        adapter, trader = get_adapter("pumpswap"), seeded.wallets[0]
        for lamports, fraction in trades:
            bought = await _trade_and_check(
                rpc, cluster, adapter, seeded, seed, trader, Side.BUY, lamports
            )
            amount = bought.amount_out * fraction // 100
            if amount:
                await _trade_and_check(
                    rpc, cluster, adapter, seeded, seed, trader, Side.SELL, amount
                )

    asyncio.run(run())
