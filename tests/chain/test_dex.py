"""DEX adapters: instruction vectors from the published layouts, and real swaps on the localnet."""

from __future__ import annotations

import pytest
from solders.compute_budget import set_compute_unit_price
from solders.instruction import AccountMeta
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import (
    LAMPORTS_PER_SOL,
    METAPLEX_METADATA_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from apps.chain.dex import pumpfun as pf
from apps.chain.dex import raydium_amm_v4 as ray
from apps.chain.dex.base import Side
from apps.chain.dex.registry import find_pools, get_adapter
from apps.chain.errors import TransactionRejected, VenueMigrated
from apps.chain.metaplex import TokenMetadata
from apps.chain.spl import TOKEN_ACCOUNT_RENT_LAMPORTS, ata_address
from apps.chain.tx import ConfirmStatus, build_transaction, send_transaction
from apps.localnet.seed import migrated_curve, seed_token

from .conftest import execute


def key(n: int) -> Pubkey:
    return Pubkey.from_bytes(bytes([n]) * 32)


async def balance(rpc, address) -> int:
    return (await rpc.call("getBalance", lambda c: c.get_balance(address))).value


async def tokens(rpc, address) -> int:
    resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
    if resp.value is None:
        return 0
    return int.from_bytes(bytes(resp.value.data)[64:72], "little")


# -- instruction vectors ------------------------------------------------------------------


def test_it_encodes_raydium_swap_base_in_like_the_program_source():
    keys = ray.SwapKeys(*(key(n) for n in range(1, 18)))

    ix = ray.swap_base_in_instruction(keys=keys, amount_in=1_000_000, minimum_amount_out=990_000)

    assert ix.program_id == Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
    assert bytes(ix.data) == bytes.fromhex("0940420f0000000000301b0f0000000000")
    # instruction.rs, SwapBaseIn: token program, amm(w), authority, open orders(w), coin vault(w),
    # pc vault(w), market program, market(w), bids(w), asks(w), event queue(w), market coin
    # vault(w), market pc vault(w), vault signer, user source(w), user destination(w), owner(s).
    assert list(ix.accounts) == [
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(key(1), False, True),
        AccountMeta(key(2), False, False),
        AccountMeta(key(3), False, True),
        AccountMeta(key(5), False, True),
        AccountMeta(key(6), False, True),
        AccountMeta(key(7), False, False),
        AccountMeta(key(8), False, True),
        AccountMeta(key(9), False, True),
        AccountMeta(key(10), False, True),
        AccountMeta(key(11), False, True),
        AccountMeta(key(12), False, True),
        AccountMeta(key(13), False, True),
        AccountMeta(key(14), False, False),
        AccountMeta(key(15), False, True),
        AccountMeta(key(16), False, True),
        AccountMeta(key(17), True, False),
    ]
    with_target = ray.swap_base_in_instruction(
        keys=keys, amount_in=1_000_000, minimum_amount_out=990_000, with_target_orders=True
    )
    assert len(with_target.accounts) == 18
    assert with_target.accounts[4] == AccountMeta(key(4), False, True)


def test_it_derives_the_raydium_authority_and_decodes_amm_info():
    assert ray.authority_address(254) == Pubkey.from_string(
        "5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1"
    )
    info = ray.AmmInfo(6, 254, 6, 9, *(key(n) for n in range(1, 11)))
    data = info.encode()

    assert len(data) == 752
    assert data[400:432] == bytes(key(3))  # coin mint at the offset discovery filters on
    assert data[432:464] == bytes(key(4))
    assert int.from_bytes(data[144:152], "little") == 25  # trade_fee_numerator
    assert int.from_bytes(data[176:184], "little") == 25  # swap_fee_numerator
    assert int.from_bytes(data[184:192], "little") == 10_000
    assert ray.AmmInfo.decode(data) == info


def test_it_rounds_the_raydium_fee_like_checked_ceil_div():
    assert ray.swap_fee(amount_in=1_000_000, numerator=25, denominator=10_000) == 2_500
    assert ray.swap_fee(amount_in=1_000_001, numerator=25, denominator=10_000) == 2_501
    assert ray.swap_fee(amount_in=200, numerator=25, denominator=10_000) == 1
    assert ray.swap_fee(amount_in=199, numerator=25, denominator=10_000) == 0


# -- discovery and seeding ----------------------------------------------------------------


async def test_it_finds_both_pools_of_a_seeded_mint(rpc, seeded):
    pools = await find_pools(rpc=rpc, mint=seeded.mint)

    assert {(p.dex, p.address) for p in pools} == {
        ("raydium_amm_v4", seeded.raydium.amm),
        ("pumpfun", seeded.pumpfun.curve),
    }


async def test_it_says_a_completed_curve_migrated(rpc, cluster):
    migrated = seed_token(cluster, raydium_reserves=None, pumpfun_curve=migrated_curve())
    adapter = get_adapter("pumpfun")

    assert await find_pools(rpc=rpc, mint=migrated.mint) == []
    with pytest.raises(VenueMigrated, match="migrated"):
        await adapter.load_state(rpc=rpc, address=migrated.pumpfun.curve, mint=migrated.mint)


async def test_it_seeds_metaplex_metadata_and_token_2022_mints(rpc, cluster):
    token = seed_token(
        cluster,
        name="Two",
        symbol="TWO",
        token_program=TOKEN_2022_PROGRAM_ID,
        raydium_reserves=None,
    )

    mint = (await rpc.call("getAccountInfo", lambda c: c.get_account_info(token.mint))).value
    meta = (await rpc.call("getAccountInfo", lambda c: c.get_account_info(token.metadata))).value
    assert mint.owner == TOKEN_2022_PROGRAM_ID
    assert meta.owner == METAPLEX_METADATA_PROGRAM_ID
    assert len(meta.data) == 679
    decoded = TokenMetadata.decode(bytes(meta.data))
    assert (decoded.mint, decoded.name, decoded.symbol) == (token.mint, "Two", "TWO")


# -- swaps on the localnet -----------------------------------------------------------------


async def test_it_buys_then_sells_on_raydium_at_the_constant_product_with_25_bps(rpc, seeded):
    adapter = get_adapter("raydium_amm_v4")
    trader = seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seeded.raydium.amm)
    token_reserve, sol_reserve = state.coin_reserve, state.pc_reserve
    sol_in = LAMPORTS_PER_SOL
    fee_in = (sol_in * 25 + 9_999) // 10_000
    expected_tokens = token_reserve * (sol_in - fee_in) // (sol_reserve + sol_in - fee_in)
    start = await balance(rpc, trader.pubkey())

    quote = adapter.quote(state=state, side=Side.BUY, amount_in=sol_in)
    bought = await execute(
        rpc,
        trader,
        adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=50),
    )

    token_ata = ata_address(owner=trader.pubkey(), mint=seeded.mint)
    assert quote.amount_out == expected_tokens
    assert bought.status == ConfirmStatus.LANDED
    assert await tokens(rpc, token_ata) == expected_tokens
    assert (
        await balance(rpc, trader.pubkey()) == start - sol_in - TOKEN_ACCOUNT_RENT_LAMPORTS - 5_000
    )
    assert await tokens(rpc, seeded.raydium.coin_vault) == token_reserve - expected_tokens
    assert await tokens(rpc, seeded.raydium.pc_vault) == sol_reserve + sol_in

    state = await adapter.load_state(rpc=rpc, address=seeded.raydium.amm)
    fee_back = (expected_tokens * 25 + 9_999) // 10_000
    expected_sol = (
        (sol_reserve + sol_in)
        * (expected_tokens - fee_back)
        // (token_reserve - expected_tokens + expected_tokens - fee_back)
    )
    quote = adapter.quote(state=state, side=Side.SELL, amount_in=expected_tokens)
    sold = await execute(
        rpc,
        trader,
        adapter.build_sell(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=50),
    )

    assert quote.amount_out == expected_sol
    assert sold.status == ConfirmStatus.LANDED
    assert await tokens(rpc, token_ata) == 0
    assert await balance(rpc, trader.pubkey()) == (
        start - sol_in - TOKEN_ACCOUNT_RENT_LAMPORTS - 10_000 + expected_sol
    )


async def test_it_fails_a_raydium_swap_below_min_out_with_exceeded_slippage(rpc, seeded):
    adapter = get_adapter("raydium_amm_v4")
    trader = seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seeded.raydium.amm)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    ixs = adapter.build_buy(
        state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0, limit=quote.amount_out + 1
    )
    start = await balance(rpc, trader.pubkey())
    vaults = (
        await tokens(rpc, seeded.raydium.coin_vault),
        await tokens(rpc, seeded.raydium.pc_vault),
    )

    built = await build_transaction(
        rpc=rpc, payer=trader, instructions=ixs, compute_unit_limit=300_000
    )
    with pytest.raises(TransactionRejected) as rejected:
        await send_transaction(rpc=rpc, built=built)
    assert "custom program error: 0x1e" in str(rejected.value)  # ExceededSlippage = 30

    failed = await execute(rpc, trader, ixs, skip_preflight=True, compute_unit_limit=300_000)
    # Instruction 6: after the two compute-budget and four wrap/ATA instructions.
    assert failed.status == ConfirmStatus.FAILED
    assert failed.err == TransactionErrorInstructionError(
        6, InstructionErrorCustom(ray.ERR_EXCEEDED_SLIPPAGE)
    )
    assert await balance(rpc, trader.pubkey()) == start - 5_000
    assert (
        await tokens(rpc, seeded.raydium.coin_vault),
        await tokens(rpc, seeded.raydium.pc_vault),
    ) == vaults
    assert await balance(rpc, ata_address(owner=trader.pubkey(), mint=seeded.mint)) == 0


async def test_it_fails_pumpfun_trades_outside_the_limits_with_the_idl_error_codes(rpc, seeded):
    adapter = get_adapter("pumpfun")
    trader = seeded.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 10)
    start = await balance(rpc, trader.pubkey())

    too_cheap = adapter.build_buy(
        state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0, limit=quote.amount_in - 1
    )
    failed = await execute(rpc, trader, too_cheap, skip_preflight=True)
    assert failed.err == TransactionErrorInstructionError(
        3, InstructionErrorCustom(pf.ERR_TOO_MUCH_SOL_REQUIRED)
    )
    assert await balance(rpc, trader.pubkey()) == start - 5_000
    assert await balance(rpc, ata_address(owner=trader.pubkey(), mint=seeded.mint)) == 0

    await execute(
        rpc,
        trader,
        adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0),
    )
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    sell_quote = adapter.quote(state=state, side=Side.SELL, amount_in=quote.amount_out)
    before_sell = await balance(rpc, trader.pubkey())
    greedy = adapter.build_sell(
        state=state,
        owner=trader.pubkey(),
        quote=sell_quote,
        slippage_bps=0,
        limit=sell_quote.amount_out + 1,
    )
    failed = await execute(rpc, trader, greedy, skip_preflight=True)
    assert failed.err == TransactionErrorInstructionError(
        2, InstructionErrorCustom(pf.ERR_TOO_LITTLE_SOL_RECEIVED)
    )
    assert await balance(rpc, trader.pubkey()) == before_sell - 5_000
    assert (
        await tokens(rpc, ata_address(owner=trader.pubkey(), mint=seeded.mint)) == quote.amount_out
    )


async def test_it_charges_a_swap_with_unpinned_priority_exactly_the_validator_fee(rpc, seeded):
    adapter = get_adapter("pumpfun")
    trader = seeded.wallets[1]
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 100)
    ixs = adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0)
    # No compute-unit limit: the runtime default applies to the original two instructions
    # (ATA program + pump.fun, 200k each) and the one price instruction (3k).
    blockhash = (
        await rpc.call("getLatestBlockhash", lambda c: c.get_latest_blockhash())
    ).value.blockhash
    tx = VersionedTransaction(
        MessageV0.try_compile(
            trader.pubkey(), [set_compute_unit_price(1_000_000), *ixs], [], blockhash
        ),
        [trader],
    )
    start = await balance(rpc, trader.pubkey())
    await rpc.call("sendTransaction", lambda c: c.send_raw_transaction(bytes(tx)))

    assert await balance(
        rpc, trader.pubkey()
    ) == start - quote.amount_in - TOKEN_ACCOUNT_RENT_LAMPORTS - (5_000 + 403_000)
