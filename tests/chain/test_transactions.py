"""Transactions against the localnet: transfers, ATAs, WSOL, fees, expiry, failure reporting."""

from __future__ import annotations

import asyncio

import pytest
from solders.keypair import Keypair
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import LAMPORTS_PER_SOL, WSOL_MINT
from apps.chain.errors import TransactionRejected
from apps.chain.spl import (
    TOKEN_ACCOUNT_RENT_LAMPORTS,
    ata_address,
    close_account,
    create_ata_idempotent,
    sol_transfer,
    unwrap_sol,
    wrap_sol,
)
from apps.chain.tx import (
    ConfirmStatus,
    FixedFee,
    PercentileFee,
    build_transaction,
    confirm_transaction,
    send_transaction,
)

from .conftest import balance, execute


async def token_balance(rpc, address) -> int:
    resp = await rpc.call("getTokenAccountBalance", lambda c: c.get_token_account_balance(address))
    return int(resp.value.amount)


async def test_it_transfers_sol_and_charges_exactly_the_signature_fee(rpc, payer):
    to = Keypair().pubkey()
    before = await balance(rpc, payer.pubkey())

    result = await execute(
        rpc, payer, [sol_transfer(source=payer.pubkey(), destination=to, lamports=1_000_000)]
    )

    assert result.status == ConfirmStatus.LANDED
    assert result.fee == 5_000
    assert await balance(rpc, to) == 1_000_000
    assert await balance(rpc, payer.pubkey()) == before - 1_000_000 - 5_000


async def test_it_adds_the_priority_fee_from_price_and_limit(rpc, payer):
    before = await balance(rpc, payer.pubkey())

    result = await execute(
        rpc,
        payer,
        [sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000)],
        price=1_000_000,
        compute_unit_limit=10_000,
    )

    # 5000 per signature + 1_000_000 µlamports x 10_000 CU / 10^6.
    assert result.fee == 5_000 + 10_000
    assert await balance(rpc, payer.pubkey()) == before - 1_000_000 - 15_000


async def test_it_sets_the_compute_unit_limit_from_simulation_with_a_margin(rpc, payer):
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[
            sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000)
        ],
        fee_policy=FixedFee(1),
    )

    # A transfer consumes 150 CU, plus two compute-budget instructions at 150 each; the
    # margin is 10 % with a floor of 1000 CU.
    assert built.compute_unit_limit == 450 + 1_000
    assert built.compute_unit_price == 1


async def test_it_prices_from_recent_prioritization_fees_with_a_cap(rpc, cluster, payer):
    for price in (10, 20, 30, 40):
        cluster.advance_slots(1)  # the node reports the lowest price per slot
        await execute(
            rpc,
            payer,
            [
                sol_transfer(
                    source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000
                )
            ],
            price=price,
        )

    assert (
        await PercentileFee(percentile=50, cap_micro_lamports=1_000).price(
            rpc=rpc, accounts=[payer.pubkey()]
        )
        == 20
    )
    assert (
        await PercentileFee(percentile=100, cap_micro_lamports=25).price(rpc=rpc, accounts=[]) == 25
    )


async def test_it_creates_and_closes_an_ata_with_exact_rent_and_fees(rpc, payer, seeded):
    ata = ata_address(owner=payer.pubkey(), mint=seeded.mint)
    start = await balance(rpc, payer.pubkey())

    created = await execute(
        rpc,
        payer,
        [create_ata_idempotent(payer=payer.pubkey(), owner=payer.pubkey(), mint=seeded.mint)],
    )
    assert created.status == ConfirmStatus.LANDED
    assert await balance(rpc, ata) == TOKEN_ACCOUNT_RENT_LAMPORTS
    assert await balance(rpc, payer.pubkey()) == start - TOKEN_ACCOUNT_RENT_LAMPORTS - 5_000

    closed = await execute(
        rpc, payer, [close_account(account=ata, destination=payer.pubkey(), owner=payer.pubkey())]
    )
    assert closed.status == ConfirmStatus.LANDED
    assert await balance(rpc, ata) == 0
    assert await balance(rpc, payer.pubkey()) == start - 10_000


async def test_it_wraps_and_unwraps_sol_to_the_lamport(rpc, payer):
    wsol = ata_address(owner=payer.pubkey(), mint=WSOL_MINT)
    start = await balance(rpc, payer.pubkey())

    await execute(rpc, payer, wrap_sol(owner=payer.pubkey(), lamports=LAMPORTS_PER_SOL))
    assert await token_balance(rpc, wsol) == LAMPORTS_PER_SOL
    assert await balance(rpc, wsol) == LAMPORTS_PER_SOL + TOKEN_ACCOUNT_RENT_LAMPORTS
    assert (
        await balance(rpc, payer.pubkey())
        == start - LAMPORTS_PER_SOL - TOKEN_ACCOUNT_RENT_LAMPORTS - 5_000
    )

    await execute(rpc, payer, unwrap_sol(owner=payer.pubkey()))
    assert await balance(rpc, wsol) == 0
    assert await balance(rpc, payer.pubkey()) == start - 10_000


async def test_it_rejects_an_expired_blockhash_and_changes_nothing(rpc, cluster, payer):
    to = Keypair().pubkey()
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[sol_transfer(source=payer.pubkey(), destination=to, lamports=1_000_000)],
        compute_unit_limit=1_000,
    )
    before = await balance(rpc, payer.pubkey())
    cluster.advance_slots(151)

    with pytest.raises(TransactionRejected) as rejected:
        await send_transaction(rpc=rpc, built=built)

    assert "Blockhash not found" in str(rejected.value)
    assert await balance(rpc, payer.pubkey()) == before
    assert await balance(rpc, to) == 0


async def test_it_reports_expired_only_after_the_block_height_passes_last_valid(
    rpc, cluster, payer, faults
):
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[
            sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000)
        ],
        compute_unit_limit=1_000,
    )
    faults.drop_transactions = True  # accepted, never lands
    await send_transaction(rpc=rpc, built=built)
    cluster.advance_slots(built.last_valid_block_height - cluster.block_height)
    assert cluster.block_height == built.last_valid_block_height

    confirm = confirm_transaction(
        rpc=rpc,
        signature=built.signature,
        last_valid_block_height=built.last_valid_block_height,
        poll_interval_s=0.01,
    )
    task = asyncio.ensure_future(confirm)
    await asyncio.sleep(0.1)
    assert not task.done()  # still inside the window: it may yet land

    cluster.advance_slots(1)
    result = await asyncio.wait_for(task, 2)
    assert result.status == ConfirmStatus.EXPIRED


async def test_it_reports_a_landed_but_failed_transaction_as_failed_with_its_fee(rpc, payer):
    before = await balance(rpc, payer.pubkey())
    too_much = 100 * LAMPORTS_PER_SOL

    result = await execute(
        rpc,
        payer,
        [sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=too_much)],
        skip_preflight=True,
    )

    assert result.status == ConfirmStatus.FAILED
    assert result.err == TransactionErrorInstructionError(2, InstructionErrorCustom(1))
    assert result.fee == 5_000
    assert await balance(rpc, payer.pubkey()) == before - 5_000


async def test_it_refuses_a_failing_transaction_at_preflight_with_logs(rpc, payer):
    before = await balance(rpc, payer.pubkey())
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[
            sol_transfer(
                source=payer.pubkey(),
                destination=Keypair().pubkey(),
                lamports=100 * LAMPORTS_PER_SOL,
            )
        ],
        compute_unit_limit=10_000,
    )

    with pytest.raises(TransactionRejected) as rejected:
        await send_transaction(rpc=rpc, built=built)

    assert rejected.value.code == -32002
    assert rejected.value.err == TransactionErrorInstructionError(2, InstructionErrorCustom(1))
    assert any("insufficient lamports" in line for line in rejected.value.logs)
    assert await balance(rpc, payer.pubkey()) == before


async def test_it_serves_get_transaction_with_balances_and_logs(rpc, payer):
    to = Keypair().pubkey()
    result = await execute(
        rpc, payer, [sol_transfer(source=payer.pubkey(), destination=to, lamports=1_000_000)]
    )

    resp = await rpc.call(
        "getTransaction",
        lambda c: c.get_transaction(
            result.signature, encoding="base64", max_supported_transaction_version=0
        ),
    )
    meta = resp.value.transaction.meta
    assert meta.fee == 5_000
    assert meta.err is None
    assert meta.pre_balances[0] - meta.post_balances[0] == 1_005_000
    assert meta.post_balances[1] == 1_000_000
    assert any("11111111111111111111111111111111 success" in line for line in meta.log_messages)


async def test_it_answers_already_processed_for_a_resent_transaction(rpc, payer):
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[
            sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000)
        ],
        compute_unit_limit=1_000,
    )
    await send_transaction(rpc=rpc, built=built)
    before = await balance(rpc, payer.pubkey())

    with pytest.raises(TransactionRejected) as rejected:
        await send_transaction(rpc=rpc, built=built)

    assert "already been processed" in str(rejected.value)
    assert await balance(rpc, payer.pubkey()) == before


async def test_it_expires_blockhashes_sooner_when_the_window_is_shortened(rpc, cluster, payer):
    cluster.blockhash_valid_slots = 5  # fault injection: faster blockhash expiry
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[
            sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000)
        ],
        compute_unit_limit=1_000,
    )
    assert built.last_valid_block_height == cluster.block_height + 5
    cluster.advance_slots(6)

    with pytest.raises(TransactionRejected, match="Blockhash not found"):
        await send_transaction(rpc=rpc, built=built)
