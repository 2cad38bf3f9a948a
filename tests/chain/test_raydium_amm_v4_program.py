"""Raydium AMM v4 against the program's own binary in the localnet (no emulation)."""

from __future__ import annotations

import random
import shutil

import pytest
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import LAMPORTS_PER_SOL, TOKEN_2022_PROGRAM_ID
from apps.chain.dex import raydium_amm_v4 as ray
from apps.chain.dex.base import Side
from apps.chain.errors import TransactionRejected
from apps.chain.spl import ata_address
from apps.chain.tx import ConfirmStatus, build_transaction, send_transaction
from apps.localnet import programs
from apps.localnet.seed import create_token_account, seed_raydium_pool, seed_token

from . import idl
from .conftest import balance, execute, tokens

ADAPTER = ray.RaydiumAmmV4()
FEE = 5_000  # one signature, no priority fee


def _swap_index(instructions: list[Instruction]) -> int:
    return next(i for i, ix in enumerate(instructions) if ix.program_id == ray.PROGRAM_ID)


async def _holdings(rpc, owner, mint) -> tuple[int, int]:
    return await balance(rpc, owner), await tokens(rpc, ata_address(owner=owner, mint=mint))


async def test_the_localnet_runs_the_vendored_binary_not_an_emulation(rpc, cluster, seeded):
    trader = seeded.wallets[0]
    state = await ADAPTER.load_state(rpc=rpc, address=seeded.raydium.amm)
    quote = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)

    result = await execute(
        rpc,
        trader,
        ADAPTER.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0),
    )

    logs = cluster.status(result.signature).logs
    # The program's own frame and its `ray_log` event, then the token program it invokes.
    assert f"Program {ray.PROGRAM_ID} invoke [1]" in logs
    assert any(line.startswith("Program log: ray_log: ") for line in logs)
    assert f"Program {ray.PROGRAM_ID} success" in logs
    program_account = cluster.get_account(ray.PROGRAM_ID)
    assert program_account.executable


async def test_buys_and_sells_land_with_the_quote_to_the_raw_unit_on_random_pools(rpc, cluster):
    rng = random.Random(20)  # fixed: the same 40 pools every run
    seen = {"exact": 0, "fee_differs": 0, "zero_out": 0}
    for case in range(40):
        token_reserve = rng.randrange(10**9, 10**16)
        sol_reserve = rng.randrange(10**8, 10**12)
        token = seed_token(
            cluster, raydium_reserves=(token_reserve, sol_reserve), pumpfun=False, wallets=1
        )
        trader = token.wallets[0].pubkey()
        # Every third amount is below 200 raw units, where fee rounding differs by version.
        small = case % 3 == 0
        buy_in = (
            rng.randrange(1, 200)
            if small
            else rng.randrange(200, min(sol_reserve // 5, 50 * LAMPORTS_PER_SOL))
        )
        sell_in = rng.randrange(1, 200) if small else rng.randrange(200, token_reserve // 5)
        create_token_account(
            cluster,
            address=ata_address(owner=trader, mint=token.mint),
            mint=token.mint,
            owner=trader,
            amount=sell_in,
        )
        for side, amount_in in ((Side.SELL, sell_in), (Side.BUY, buy_in)):
            state = await ADAPTER.load_state(rpc=rpc, address=token.raydium.amm)
            quote = ADAPTER.quote(state=state, side=side, amount_in=amount_in)
            reserve_in, reserve_out = (
                (state.pc_reserve, state.coin_reserve)
                if side == Side.BUY
                else (state.coin_reserve, state.pc_reserve)
            )
            # The vendored build (2025-06) still charges no fee when amount_in * 25 is under
            # half of 10000; the current source (and the quote) charge 1.
            fee_of_build = 0 if amount_in * 25 * 2 < 10_000 else quote.fee
            expected = ray.swap_amount_out(
                amount_in_after_fee=amount_in - fee_of_build,
                reserve_in=reserve_in,
                reserve_out=reserve_out,
            )
            build = ADAPTER.build_buy if side == Side.BUY else ADAPTER.build_sell
            ixs = build(state=state, owner=trader, quote=quote, slippage_bps=0)
            sol_before, tokens_before = await _holdings(rpc, trader, token.mint)
            if expected == 0:
                built = await build_transaction(
                    rpc=rpc, payer=token.wallets[0], instructions=ixs, compute_unit_limit=200_000
                )
                with pytest.raises(TransactionRejected) as rejected:
                    await send_transaction(rpc=rpc, built=built)
                assert "custom program error: 0x1d" in str(rejected.value)  # InvalidInput
                assert await _holdings(rpc, trader, token.mint) == (sol_before, tokens_before)
                seen["zero_out"] += 1
                continue
            result = await execute(rpc, token.wallets[0], ixs)
            assert result.status == ConfirmStatus.LANDED, (case, side, amount_in)
            sol_after, tokens_after = await _holdings(rpc, trader, token.mint)
            if side == Side.BUY:
                received = tokens_after - tokens_before
                assert sol_before - sol_after == amount_in + FEE
            else:
                received = sol_after - sol_before + FEE
                assert tokens_before - tokens_after == amount_in
            assert received == expected, (case, side, amount_in)
            if fee_of_build == quote.fee:
                assert received == quote.amount_out, (case, side, amount_in)
                seen["exact"] += 1
            else:
                assert received >= quote.amount_out, (case, side, amount_in)
                seen["fee_differs"] += 1
    # Every path was taken: exact quotes, the sub-200 fee case, and outputs that round to 0.
    assert min(seen.values()) > 0, seen


async def test_a_sell_one_unit_above_the_quote_fails_with_30_and_only_the_fee_is_charged(
    rpc, seeded
):
    trader = seeded.wallets[0]
    state = await ADAPTER.load_state(rpc=rpc, address=seeded.raydium.amm)
    buy = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    await execute(
        rpc,
        trader,
        ADAPTER.build_buy(state=state, owner=trader.pubkey(), quote=buy, slippage_bps=0),
    )
    state = await ADAPTER.load_state(rpc=rpc, address=seeded.raydium.amm)
    sell = ADAPTER.quote(state=state, side=Side.SELL, amount_in=buy.amount_out)
    ixs = ADAPTER.build_sell(
        state=state, owner=trader.pubkey(), quote=sell, slippage_bps=0, limit=sell.amount_out + 1
    )
    holdings = await _holdings(rpc, trader.pubkey(), seeded.mint)
    vaults = (
        await tokens(rpc, seeded.raydium.coin_vault),
        await tokens(rpc, seeded.raydium.pc_vault),
    )

    failed = await execute(rpc, trader, ixs, skip_preflight=True)

    # Two compute-budget instructions come first.
    assert failed.status == ConfirmStatus.FAILED
    assert failed.err == TransactionErrorInstructionError(
        2 + _swap_index(ixs), InstructionErrorCustom(ray.ERR_EXCEEDED_SLIPPAGE)
    )
    assert idl.error_code(idl.load("raydium_amm"), "ExceededSlippage") == 30
    assert await _holdings(rpc, trader.pubkey(), seeded.mint) == (holdings[0] - FEE, holdings[1])
    assert (
        await tokens(rpc, seeded.raydium.coin_vault),
        await tokens(rpc, seeded.raydium.pc_vault),
    ) == vaults


@pytest.mark.parametrize("count", [16, 19])
async def test_a_wrong_account_count_fails_with_24_and_only_the_fee_is_charged(rpc, seeded, count):
    trader = seeded.wallets[0]
    state = await ADAPTER.load_state(rpc=rpc, address=seeded.raydium.amm)
    quote = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    ixs = ADAPTER.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0)
    index = _swap_index(ixs)
    swap = ixs[index]
    metas = list(swap.accounts)
    metas = metas[:count] if count < len(metas) else metas + metas[-(count - len(metas)) :]
    ixs[index] = Instruction(swap.program_id, bytes(swap.data), metas)
    holdings = await _holdings(rpc, trader.pubkey(), seeded.mint)

    failed = await execute(rpc, trader, ixs, skip_preflight=True)

    assert failed.err == TransactionErrorInstructionError(
        2 + index, InstructionErrorCustom(ray.ERR_WRONG_ACCOUNTS_NUMBER)
    )
    assert idl.error_code(idl.load("raydium_amm"), "WrongAccountsNumber") == 24
    assert await _holdings(rpc, trader.pubkey(), seeded.mint) == (holdings[0] - FEE, holdings[1])


async def test_pools_with_and_without_an_openbook_market_load_and_trade(rpc, cluster):
    token = seed_token(cluster, raydium_reserves=None, pumpfun=False, wallets=1)
    trader = token.wallets[0]
    without = seed_raydium_pool(
        cluster, mint=token.mint, decimals=6, token_reserve=10**15, sol_reserve=10**11
    )
    other = seed_token(cluster, raydium_reserves=None, pumpfun=False, wallets=0)
    with_market = seed_raydium_pool(
        cluster,
        mint=other.mint,
        decimals=6,
        token_reserve=10**15,
        sol_reserve=10**11,
        openbook_market=True,
    )

    new_state = await ADAPTER.load_state(rpc=rpc, address=without.amm)
    old_state = await ADAPTER.load_state(rpc=rpc, address=with_market.amm)

    assert new_state.amm.market_program == Pubkey.default()
    assert new_state.market is None
    assert old_state.market is not None and old_state.market.address == with_market.market
    for state, mint in ((new_state, token.mint), (old_state, other.mint)):
        quote = ADAPTER.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
        keys = ADAPTER.swap_keys(
            state=state, owner=trader.pubkey(), source=trader.pubkey(), destination=mint
        )
        if state.market is None:
            # Positions the program does not read name the pool itself.
            assert keys.open_orders == keys.bids == keys.market_vault_signer == state.address
        else:
            assert keys.bids == state.market.bids and keys.open_orders == state.amm.open_orders
        before = await tokens(rpc, ata_address(owner=trader.pubkey(), mint=mint))
        result = await execute(
            rpc,
            trader,
            ADAPTER.build_buy(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=0),
        )
        assert result.status == ConfirmStatus.LANDED
        after = await tokens(rpc, ata_address(owner=trader.pubkey(), mint=mint))
        assert after - before == quote.amount_out


def test_the_seeder_refuses_a_token_2022_raydium_pool(cluster):
    # The program checks its token program is SPL Token (InvalidSplTokenProgram otherwise).
    with pytest.raises(ValueError, match="only trades SPL Token mints"):
        seed_token(cluster, token_program=TOKEN_2022_PROGRAM_ID, pumpfun=False)


def test_a_program_file_that_differs_from_its_provenance_is_refused(tmp_path):
    amm = programs.PROGRAMS[0]
    assert amm.program_id == ray.PROGRAM_ID
    shutil.copy(programs.DIRECTORY / amm.filename, tmp_path / amm.filename)
    assert programs.verified_bytes(amm, directory=tmp_path)[:4] == b"\x7fELF"

    tampered = bytearray((tmp_path / amm.filename).read_bytes())
    tampered[-1] ^= 1
    (tmp_path / amm.filename).write_bytes(bytes(tampered))
    with pytest.raises(programs.ProgramIntegrityError, match="refusing to load it"):
        programs.verified_bytes(amm, directory=tmp_path)

    (tmp_path / amm.filename).unlink()
    with pytest.raises(programs.ProgramIntegrityError, match="cannot read"):
        programs.verified_bytes(amm, directory=tmp_path)


def test_the_vendored_files_match_the_provenance_table():
    table = (programs.DIRECTORY / "PROVENANCE.md").read_text()
    for program in programs.PROGRAMS:
        assert programs.verified_bytes(program)
        assert f"| {program.filename} | {program.program_id} |" in table
        assert program.sha256 in table
