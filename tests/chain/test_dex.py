"""DEX adapters: instruction vectors from the published layouts, and real swaps on the localnet."""

from __future__ import annotations

import pytest
from solders.compute_budget import set_compute_unit_price
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

from . import idl
from .conftest import balance, execute, key, tokens

# -- instruction vectors ------------------------------------------------------------------


def test_it_encodes_raydium_swap_base_in_like_the_official_idl():
    amm_idl = idl.load("raydium_amm")
    spec = idl.instruction(amm_idl, "swapBaseIn")
    keys = ray.SwapKeys(*(key(n) for n in range(1, 18)))

    with_target = ray.swap_base_in_instruction(
        keys=keys, amount_in=1_000_000, minimum_amount_out=990_000, with_target_orders=True
    )
    ix = ray.swap_base_in_instruction(keys=keys, amount_in=1_000_000, minimum_amount_out=990_000)

    assert ix.program_id == Pubkey.from_string("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8")
    # Tag 9 (the IDL's position of swapBaseIn), then amountIn and minimumAmountOut as u64.
    assert [i["name"] for i in amm_idl["instructions"]].index("swapBaseIn") == 9
    assert [(a["name"], a["type"]) for a in spec["args"]] == [
        ("amountIn", "u64"),
        ("minimumAmountOut", "u64"),
    ]
    assert bytes(ix.data) == bytes.fromhex("0940420f0000000000301b0f0000000000")
    # The IDL lists the 18-account form; the flags of each position are the IDL's.
    expected = [(a["isMut"], a["isSigner"]) for a in spec["accounts"]]
    assert [(m.is_writable, m.is_signer) for m in with_target.accounts] == expected
    assert with_target.accounts[0].pubkey == TOKEN_PROGRAM_ID
    assert [m.pubkey for m in with_target.accounts[1:]] == [key(n) for n in range(1, 18)]
    # The 17-account form leaves out ammTargetOrders (IDL position 4) and nothing else.
    assert list(ix.accounts) == [m for i, m in enumerate(with_target.accounts) if i != 4]
    assert spec["accounts"][4]["name"] == "ammTargetOrders"


def test_it_lays_out_amm_info_like_the_official_idl():
    amm_idl = idl.load("raydium_amm")
    fields, size = idl.layout(amm_idl, "AmmInfo")
    fees, _ = idl.layout(amm_idl, "Fees")
    pnl, _ = idl.layout(amm_idl, "OutPutData")
    assert ray.authority_address(254) == Pubkey.from_string(
        "5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1"
    )
    info = ray.AmmInfo(6, 254, 6, 9, *(key(n) for n in range(1, 11)), lp_amount=77)
    data = info.encode()

    def field(name: str, within: tuple[int, int] = (0, 0), table: dict = fields) -> bytes:
        offset, length = table[name]
        return data[within[0] + offset : within[0] + offset + length]

    def u64(raw: bytes) -> int:
        return int.from_bytes(raw, "little")

    assert len(data) == size == ray.AMM_INFO_LEN
    assert (fields["coinMint"][0], fields["pcMint"][0]) == (
        ray.COIN_MINT_OFFSET,
        ray.PC_MINT_OFFSET,
    )
    assert (u64(field("status")), u64(field("nonce"))) == (6, 254)
    assert (u64(field("coinDecimals")), u64(field("pcDecimals"))) == (6, 9)
    # IDL names: tokenCoin/tokenPc are the vaults, serumDex the market program.
    idl_keys = ("tokenCoin", "tokenPc", "coinMint", "pcMint", "lpMint", "openOrders", "market",
                "serumDex", "targetOrders")  # fmt: skip
    assert [field(name) for name in idl_keys] == [bytes(key(n)) for n in range(1, 10)]
    assert field("ammOwner") == bytes(key(10))
    assert u64(field("lpAmount")) == 77
    assert [u64(field(n, fields["fees"], fees)) for n in (
        "tradeFeeNumerator", "tradeFeeDenominator", "swapFeeNumerator", "swapFeeDenominator"
    )] == [25, 10_000, 25, 10_000]  # fmt: skip
    assert u64(field("needTakePnlCoin", fields["outPut"], pnl)) == 0
    assert ray.AmmInfo.decode(data) == info


def test_it_rounds_the_raydium_fee_up_like_the_current_program_source():
    # math.rs CheckedCeilDiv since 2025-08: a plain ceiling, also for fees under one unit.
    assert ray.swap_fee(amount_in=1_000_000, numerator=25, denominator=10_000) == 2_500
    assert ray.swap_fee(amount_in=1_000_001, numerator=25, denominator=10_000) == 2_501
    assert ray.swap_fee(amount_in=200, numerator=25, denominator=10_000) == 1
    assert ray.swap_fee(amount_in=199, numerator=25, denominator=10_000) == 1
    assert ray.swap_fee(amount_in=1, numerator=25, denominator=10_000) == 1
    assert ray.swap_fee(amount_in=0, numerator=25, denominator=10_000) == 0


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
