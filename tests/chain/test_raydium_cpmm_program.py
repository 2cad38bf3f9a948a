"""Raydium CPMM: layouts against the official IDL, swaps against the program's own binary."""

from __future__ import annotations

import random
import struct
import time

import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import (
    LAMPORTS_PER_SOL,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex import raydium_cpmm as cpmm
from apps.chain.dex.base import Side
from apps.chain.dex.discovery import discover_pools
from apps.chain.dex.registry import find_pools, get_adapter
from apps.chain.errors import DexError
from apps.chain.spl import ata_address, close_account
from apps.chain.tx import ConfirmStatus
from apps.localnet.seed import (
    create_mint,
    create_token_account,
    seed_cpmm_config,
    seed_cpmm_pool,
    seed_token,
)

from . import idl
from .conftest import balance, execute, key, tokens

ADAPTER = cpmm.RaydiumCpmm()
FEE = 5_000
BOTH_PROGRAMS = pytest.mark.parametrize(
    "token_program", [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID], ids=["spl", "token2022"]
)


def _token(cluster, token_program=TOKEN_PROGRAM_ID, reserves=(10**15, 100 * LAMPORTS_PER_SOL)):
    return seed_token(
        cluster,
        raydium_reserves=None,
        pumpfun=False,
        cpmm_reserves=reserves,
        token_program=token_program,
        wallets=1,
    )


async def _holdings(rpc, owner, mint, token_program) -> tuple[int, int]:
    ata = ata_address(owner=owner, mint=mint, token_program=token_program)
    return await balance(rpc, owner), await tokens(rpc, ata)


# -- layouts against the IDL ---------------------------------------------------------------


def test_pool_state_and_amm_config_follow_the_idl_layout():
    cp_idl = idl.load("raydium_cp_swap")
    discriminators = {a["name"]: bytes(a["discriminator"]) for a in cp_idl["accounts"]}
    pool_fields, pool_size = idl.layout(cp_idl, "PoolState")
    config_fields, config_size = idl.layout(cp_idl, "AmmConfig")
    pool = cpmm.PoolState(*(key(n) for n in range(1, 11)), 254, 0, 9, 9, 6, 1_000, 11, 12, 13,
                          14, 1_700_000_000, 7)  # fmt: skip
    config = cpmm.AmmConfig(3, False, 0, 2_500, 120_000, 40_000, 0, key(20), key(21))
    pool_data, config_data = pool.encode(), config.encode()

    def at(data: bytes, fields: dict, name: str) -> bytes:
        offset, size = fields[name]
        return data[8 + offset : 8 + offset + size]

    assert cpmm.POOL_STATE_DISCRIMINATOR == discriminators["PoolState"] == pool_data[:8]
    assert cpmm.AMM_CONFIG_DISCRIMINATOR == discriminators["AmmConfig"] == config_data[:8]
    assert len(pool_data) == cpmm.POOL_STATE_LEN == 8 + pool_size
    assert len(config_data) == cpmm.AMM_CONFIG_LEN == 8 + config_size
    assert (8 + pool_fields["token_0_mint"][0], 8 + pool_fields["token_1_mint"][0]) == (
        cpmm.TOKEN_0_MINT_OFFSET,
        cpmm.TOKEN_1_MINT_OFFSET,
    )
    names = ("amm_config", "pool_creator", "token_0_vault", "token_1_vault", "lp_mint",
             "token_0_mint", "token_1_mint", "token_0_program", "token_1_program",
             "observation_key")  # fmt: skip
    assert [at(pool_data, pool_fields, n) for n in names] == [bytes(key(n)) for n in range(1, 11)]
    u8s = ("auth_bump", "status", "lp_mint_decimals", "mint_0_decimals", "mint_1_decimals")
    assert [at(pool_data, pool_fields, n)[0] for n in u8s] == [254, 0, 9, 9, 6]
    u64s = ("lp_supply", "protocol_fees_token_0", "protocol_fees_token_1", "fund_fees_token_0",
            "fund_fees_token_1", "open_time", "recent_epoch")  # fmt: skip
    assert [int.from_bytes(at(pool_data, pool_fields, n), "little") for n in u64s] == [
        1_000, 11, 12, 13, 14, 1_700_000_000, 7,
    ]  # fmt: skip
    assert at(config_data, config_fields, "index") == (0).to_bytes(2, "little")
    assert [
        int.from_bytes(at(config_data, config_fields, n), "little")
        for n in ("trade_fee_rate", "protocol_fee_rate", "fund_fee_rate", "create_pool_fee")
    ] == [2_500, 120_000, 40_000, 0]
    assert at(config_data, config_fields, "fund_owner") == bytes(key(21))
    assert cpmm.PoolState.decode(pool_data) == pool
    assert cpmm.AmmConfig.decode(config_data) == config


def test_swap_base_input_follows_the_idl():
    cp_idl = idl.load("raydium_cp_swap")
    spec = idl.instruction(cp_idl, "swap_base_input")
    keys = cpmm.SwapKeys(*(key(n) for n in range(1, 14)))

    ix = cpmm.swap_base_input_instruction(keys=keys, amount_in=1_000, minimum_amount_out=990)

    assert str(ix.program_id) == cp_idl["address"]
    assert bytes(ix.data) == bytes(spec["discriminator"]) + struct.pack("<QQ", 1_000, 990)
    assert [(a["name"], a["type"]) for a in spec["args"]] == [
        ("amount_in", "u64"),
        ("minimum_amount_out", "u64"),
    ]
    assert list(cpmm.SwapKeys.__dataclass_fields__) == [a["name"] for a in spec["accounts"]]
    assert [(m.pubkey, m.is_writable, m.is_signer) for m in ix.accounts] == [
        (key(n + 1), a.get("writable", False), a.get("signer", False))
        for n, a in enumerate(spec["accounts"])
    ]
    initialize = idl.instruction(cp_idl, "initialize")
    assert bytes(initialize["discriminator"]) == cpmm.INITIALIZE_DISCRIMINATOR
    assert idl.error_code(cp_idl, "ExceededSlippage") == cpmm.ERR_EXCEEDED_SLIPPAGE == 6005
    assert idl.error_code(cp_idl, "NotApproved") == cpmm.ERR_NOT_APPROVED
    create_pool_fee = initialize["accounts"][12]
    assert create_pool_fee["address"] == str(cpmm.CREATE_POOL_FEE_RECEIVER)


def test_the_creator_fee_follows_the_program_source():
    # calculator.rs: on the input, one ceiling over trade + creator rate; on the output, the
    # trade fee from the input, then ceil(out * creator rate / 1e6) from the output.
    on_input = cpmm.swap_base_input(
        amount_in=1_000_000, reserve_in=10**9, reserve_out=10**12, trade_fee_rate=2_500,
        creator_fee_rate=500, creator_fee_on_input=True,
    )  # fmt: skip
    assert on_input == (10**12 * 997_000 // (10**9 + 997_000), 3_000)
    on_output = cpmm.swap_base_input(
        amount_in=1_000_000, reserve_in=10**9, reserve_out=10**12, trade_fee_rate=2_500,
        creator_fee_rate=500, creator_fee_on_input=False,
    )  # fmt: skip
    swapped = 10**12 * 997_500 // (10**9 + 997_500)
    assert on_output == (swapped - -(-swapped * 500 // 1_000_000), 2_500)


# -- on the real program -------------------------------------------------------------------


@BOTH_PROGRAMS
async def test_initialize_creates_the_pool_the_adapter_reads(rpc, cluster, token_program):
    before = int(time.time())
    token = _token(cluster, token_program)

    state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)

    pool = state.pool
    assert cluster.get_account(token.cpmm.pool).owner == cpmm.PROGRAM_ID
    assert {pool.token_0_mint, pool.token_1_mint} == {token.mint, WSOL_MINT}
    assert bytes(pool.token_0_mint) < bytes(pool.token_1_mint)
    assert state.token_mint == token.mint and state.token_program == token_program
    assert (state.token_reserve, state.sol_reserve) == (10**15, 100 * LAMPORTS_PER_SOL)
    assert state.config.trade_fee_rate == 2_500 and state.fee_bps == 25
    assert cluster.get_account(state.pool.token_0_vault).owner in (
        TOKEN_PROGRAM_ID,
        TOKEN_2022_PROGRAM_ID,
    )
    # The LP supply is sqrt(x*y) as the program computed it (100 locked are still counted).
    assert pool.lp_supply == 10**13  # sqrt(1e15 * 1e11)
    # The program opened the pool one second after the Clock's (wall-clock) unix time.
    assert before + 1 <= pool.open_time <= int(time.time()) + 1


def test_the_cluster_clock_follows_the_wall_clock_and_moves_on_demand(cluster):
    before = int(time.time())
    now = cluster.advance_time(0)
    assert before <= now <= int(time.time())
    later = cluster.advance_time(5)
    assert now + 5 <= later <= int(time.time()) + 5


@BOTH_PROGRAMS
async def test_buy_and_sell_land_with_the_quoted_amounts(rpc, cluster, token_program):
    token = _token(cluster, token_program)
    trader = token.wallets[0]
    owner = trader.pubkey()
    state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
    buy = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    start = await balance(rpc, owner)

    bought = await execute(
        rpc, trader, ADAPTER.build_buy(state=state, owner=owner, quote=buy, slippage_bps=0)
    )

    ata_rent = cluster.get_account(ata_address(owner=owner, mint=token.mint,
                                               token_program=token_program)).lamports  # fmt: skip
    assert bought.status == ConfirmStatus.LANDED
    assert buy.fee == 2_500_000
    assert await _holdings(rpc, owner, token.mint, token_program) == (
        start - LAMPORTS_PER_SOL - ata_rent - FEE,
        buy.amount_out,
    )
    state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
    # 12 % (protocol) and 4 % (fund) of the 2_500_000 trade fee stay in the vault, owed.
    assert state.pool.fees_owed()[0 if state.sol_is_token_0 else 1] == 400_000
    assert state.sol_reserve == 101 * LAMPORTS_PER_SOL - 400_000
    sell = ADAPTER.quote(state=state, side=Side.SELL, amount_in=buy.amount_out)

    sold = await execute(
        rpc, trader, ADAPTER.build_sell(state=state, owner=owner, quote=sell, slippage_bps=0)
    )

    assert sold.status == ConfirmStatus.LANDED
    assert await _holdings(rpc, owner, token.mint, token_program) == (
        start - LAMPORTS_PER_SOL - ata_rent - 2 * FEE + sell.amount_out,
        0,
    )
    # The emptied token account closes under its own token program (what the gather does).
    closed = await execute(
        rpc,
        trader,
        [close_account(account=ata_address(owner=owner, mint=token.mint,
                                           token_program=token_program),
                       destination=owner, owner=owner, token_program=token_program)],
    )  # fmt: skip
    assert closed.status == ConfirmStatus.LANDED
    assert cluster.get_account(ata_address(owner=owner, mint=token.mint,
                                           token_program=token_program)) is None  # fmt: skip
    assert await balance(rpc, owner) == start - 3 * FEE - LAMPORTS_PER_SOL + sell.amount_out


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_min_out_one_above_the_quote_fails_with_6005_and_only_the_fee_is_charged(
    rpc, cluster, side
):
    token = _token(cluster, TOKEN_2022_PROGRAM_ID)
    trader = token.wallets[0]
    owner = trader.pubkey()
    create_token_account(
        cluster,
        address=ata_address(owner=owner, mint=token.mint, token_program=TOKEN_2022_PROGRAM_ID),
        mint=token.mint, owner=owner, amount=10**12, token_program=TOKEN_2022_PROGRAM_ID,
    )  # fmt: skip
    state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
    amount = LAMPORTS_PER_SOL if side == Side.BUY else 10**12
    quote = ADAPTER.quote(state=state, side=side, amount_in=amount)
    build = ADAPTER.build_buy if side == Side.BUY else ADAPTER.build_sell
    ixs = build(state=state, owner=owner, quote=quote, slippage_bps=0, limit=quote.amount_out + 1)
    swap_index = next(i for i, ix in enumerate(ixs) if ix.program_id == cpmm.PROGRAM_ID)
    holdings = await _holdings(rpc, owner, token.mint, TOKEN_2022_PROGRAM_ID)
    vaults = [await tokens(rpc, v) for v in (token.cpmm.token_0_vault, token.cpmm.token_1_vault)]

    failed = await execute(rpc, trader, ixs, skip_preflight=True)

    assert failed.status == ConfirmStatus.FAILED
    assert failed.err == TransactionErrorInstructionError(
        2 + swap_index, InstructionErrorCustom(cpmm.ERR_EXCEEDED_SLIPPAGE)
    )
    assert await _holdings(rpc, owner, token.mint, TOKEN_2022_PROGRAM_ID) == (
        holdings[0] - FEE,
        holdings[1],
    )
    vaults_after = [
        await tokens(rpc, v) for v in (token.cpmm.token_0_vault, token.cpmm.token_1_vault)
    ]
    assert vaults_after == vaults


async def test_a_wrong_account_count_fails_with_anchors_not_enough_keys(rpc, cluster):
    token = _token(cluster)
    trader = token.wallets[0]
    state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
    quote = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    ixs = ADAPTER.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0)
    index = next(i for i, ix in enumerate(ixs) if ix.program_id == cpmm.PROGRAM_ID)
    ixs[index] = Instruction(cpmm.PROGRAM_ID, bytes(ixs[index].data), ixs[index].accounts[:12])
    start = await balance(rpc, trader.pubkey())

    failed = await execute(rpc, trader, ixs, skip_preflight=True)

    assert failed.err == TransactionErrorInstructionError(
        2 + index, InstructionErrorCustom(cpmm.ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS)
    )
    assert await balance(rpc, trader.pubkey()) == start - FEE


async def test_quotes_equal_the_program_to_the_raw_unit_on_random_pools(rpc, cluster):
    rng = random.Random(34)  # fixed: the same pools every run
    landed = 0
    for case in range(24):
        token_program = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)[case % 2]
        reserves = (rng.randrange(10**9, 10**16), rng.randrange(10**8, 10**12))
        token = _token(cluster, token_program, reserves)
        owner = token.wallets[0].pubkey()
        small = case % 3 == 0
        sell_in = rng.randrange(1_000, 10_000) if small else rng.randrange(10_000, reserves[0] // 5)
        buy_in = rng.randrange(1_000, 10_000) if small else rng.randrange(
            10_000, min(reserves[1] // 5, 50 * LAMPORTS_PER_SOL)
        )  # fmt: skip
        create_token_account(
            cluster, address=ata_address(owner=owner, mint=token.mint, token_program=token_program),
            mint=token.mint, owner=owner, amount=sell_in, token_program=token_program,
        )  # fmt: skip
        for side, amount in ((Side.SELL, sell_in), (Side.BUY, buy_in)):
            state = await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
            quote = ADAPTER.quote(state=state, side=side, amount_in=amount)
            if quote.amount_out == 0:
                continue  # the program refuses a swap that gives nothing (require_gt)
            build = ADAPTER.build_buy if side == Side.BUY else ADAPTER.build_sell
            before = await _holdings(rpc, owner, token.mint, token_program)
            result = await execute(
                rpc, token.wallets[0], build(state=state, owner=owner, quote=quote, slippage_bps=0)
            )
            after = await _holdings(rpc, owner, token.mint, token_program)
            assert result.status == ConfirmStatus.LANDED, (case, side, amount)
            if side == Side.BUY:
                assert after[1] - before[1] == quote.amount_out, (case, side, amount)
            else:
                assert after[0] - before[0] + FEE == quote.amount_out, (case, side, amount)
                assert before[1] - after[1] == amount
            landed += 1
    assert landed >= 40, landed  # of 48 swaps; the rest quote 0 out


async def test_discovery_finds_a_pool_with_the_token_on_either_side(rpc, cluster):
    seed_cpmm_config(cluster)
    mints = []
    for wanted_below_wsol in (True, False):
        keypair = Keypair()
        while (bytes(keypair.pubkey()) < bytes(WSOL_MINT)) != wanted_below_wsol:
            keypair = Keypair()
        mint = create_mint(cluster, address=keypair.pubkey(), decimals=6, authority=None,
                           supply=10**15)  # fmt: skip
        seed_cpmm_pool(cluster, mint=mint, token_reserve=10**15, sol_reserve=10**11)
        mints.append(mint)

    for mint, token_is_0 in zip(mints, (True, False), strict=True):
        refs = await find_pools(rpc=rpc, mint=mint)
        summaries = await discover_pools(rpc=rpc, mint=mint)
        assert [ref.dex for ref in refs] == ["raydium_cpmm"]
        assert (refs[0].base_mint == mint) == token_is_0
        assert [
            (s.dex, s.venue, s.base_reserve_raw, s.quote_reserve_lamports, s.fee_bps)
            for s in summaries
        ] == [("raydium_cpmm", "Raydium CPMM", 10**15, 10**11, 25)]
        assert summaries[0].address == str(refs[0].address)
        assert isinstance(get_adapter(refs[0].dex), cpmm.RaydiumCpmm)


async def test_a_mint_with_a_transfer_fee_is_refused(rpc, cluster):
    token = _token(cluster, TOKEN_2022_PROGRAM_ID)
    mint_account = cluster.get_account(token.mint)
    # TransferFeeConfig (extension 1, 108 bytes) after the account-type byte at 165.
    data = bytes(mint_account.data).ljust(165, b"\0") + b"\x01" + struct.pack("<HH", 1, 108)
    data += bytes(108)
    cluster.set_account(
        token.mint,
        type(mint_account)(mint_account.lamports, data, mint_account.owner),
    )

    with pytest.raises(DexError, match="transfer fee"):
        await ADAPTER.load_state(rpc=rpc, address=token.cpmm.pool)
