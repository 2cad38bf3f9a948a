"""pump.fun on the localnet: layouts at the IDL's offsets, tiered and creator fees charged into
the right accounts to the lamport, and the emulated program refusing what mainnet refuses."""

from __future__ import annotations

import asyncio
import dataclasses
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    LAMPORTS_PER_SOL,
    RENT_SYSVAR_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from apps.chain.dex import pumpfun as pf
from apps.chain.dex import pumpfun_state as pfs
from apps.chain.dex.base import Side
from apps.chain.dex.pumpfees import FeeConfig, Fees, FeeTier, fee_tier
from apps.chain.dex.registry import get_adapter
from apps.chain.errors import DexError
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import TOKEN_ACCOUNT_RENT_LAMPORTS, ata_address
from apps.chain.tx import ConfirmStatus
from apps.localnet import Cluster, create_app
from apps.localnet.seed import (
    PUMP_BUYBACK_FEE_RECIPIENTS,
    PUMP_FEE_RECIPIENTS,
    launch_curve,
    migrated_curve,
    seed_token,
)

from .conftest import balance, execute, tokens
from .pump_idl_support import account_discriminator, account_layout

FEE = 5_000  # one signature


# -- layouts ---------------------------------------------------------------------------------


def test_it_lays_out_the_bonding_curve_at_the_idl_offsets():
    creator, quote = Keypair().pubkey(), Keypair().pubkey()
    curve = pfs.BondingCurve(1, 2, 3, 4, 5, True, creator, True, False, quote)
    layout = account_layout("pump", "BondingCurve")

    data = curve.encode()

    assert len(data) == layout["__len__"][0] == 115
    assert data[:8] == account_discriminator("pump", "BondingCurve")

    def field(name):
        offset, size = layout[name]
        return data[offset : offset + size]

    assert field("virtual_quote_reserves") == (2).to_bytes(8, "little")
    assert field("token_total_supply") == (5).to_bytes(8, "little")
    assert field("creator") == bytes(creator)
    assert field("is_mayhem_mode") == b"\x01"
    assert field("is_cashback_coin") == b"\x00"
    assert field("quote_mint") == bytes(quote)
    assert pfs.BondingCurve.decode(data) == curve
    # A curve from before the creator fields: read zero-padded (no creator, SOL-quoted).
    old = pfs.BondingCurve.decode(data[:49])
    assert (old.creator, old.quote_mint, old.sol_quoted, old.has_creator) == (
        Pubkey.default(),
        Pubkey.default(),
        True,
        False,
    )


def test_it_lays_out_global_at_the_idl_offsets():
    layout = account_layout("pump", "Global")
    keys = [Keypair().pubkey() for _ in range(30)]
    glob = pfs.Global(
        True, keys[0], keys[1], 10, 11, 12, 13, 95, keys[2], True, 14, 30,
        tuple(keys[3:10]), keys[10], keys[11], True, keys[12], keys[13], True,
        tuple(keys[14:21]), True, tuple(keys[21:29]), 250, 16, (keys[29],),
    )  # fmt: skip

    data = glob.encode()

    def field(name):
        offset, size = layout[name]
        return data[offset : offset + size]

    assert len(data) == layout["__len__"][0]
    assert data[:8] == account_discriminator("pump", "Global")
    assert field("fee_basis_points") == (95).to_bytes(8, "little")
    assert field("creator_fee_basis_points") == (30).to_bytes(8, "little")
    assert field("reserved_fee_recipient") == bytes(keys[13])
    assert field("buyback_fee_recipients") == b"".join(map(bytes, keys[21:29]))
    assert field("buyback_basis_points") == (250).to_bytes(8, "little")
    assert field("whitelisted_quote_mints") == bytes(keys[29])
    assert pfs.Global.decode(data) == glob
    assert glob.all_reserved_fee_recipients == (keys[13], *keys[14:21])


def test_it_reads_fee_config_tiers_as_the_fee_program_lays_them_out():
    admin = Keypair().pubkey()
    # Written by hand from idl/pump_fees.json: bump u8, admin, flat_fees (3 x u64), then
    # fee_tiers and stable_fee_tiers as vecs of {u128 threshold, Fees}.
    raw = (
        account_discriminator("pump_fees", "FeeConfig")
        + bytes([254])
        + bytes(admin)
        + struct.pack("<3Q", 0, 95, 30)
        + struct.pack("<I", 2)
        + (0).to_bytes(16, "little")
        + struct.pack("<3Q", 0, 95, 30)
        + (2**70).to_bytes(16, "little")
        + struct.pack("<3Q", 1, 5, 7)
        + struct.pack("<I", 0)
    )

    config = FeeConfig.decode(raw)

    assert config.fee_tiers == (
        FeeTier(0, Fees(0, 95, 30)),
        FeeTier(2**70, Fees(1, 5, 7)),
    )
    assert config.encode() == raw
    assert fee_tier(tiers=config.fee_tiers, market_cap=2**70 - 1) == Fees(0, 95, 30)
    assert fee_tier(tiers=config.fee_tiers, market_cap=2**70) == Fees(1, 5, 7)


# -- trading ---------------------------------------------------------------------------------


async def test_it_buys_then_sells_charging_tiered_protocol_and_creator_fees(rpc, cluster):
    seeded = seed_token(cluster, raydium_reserves=None)
    adapter = get_adapter("pumpfun")
    trader = seeded.wallets[0]
    user = trader.pubkey()
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    fee_to, vault = state.fee_recipient(user), seeded.pumpfun.creator_vault
    assert (state.fees.protocol_fee_bps, state.fees.creator_fee_bps) == (95, 30)
    before = [await balance(rpc, a) for a in (user, fee_to, vault, seeded.pumpfun.curve)]

    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    amount, curve = quote.amount_out, state.curve
    cost = -(-curve.virtual_quote_reserves * amount // (curve.virtual_token_reserves - amount)) + 1
    protocol, creator = -(-cost * 95 // 10_000), -(-cost * 30 // 10_000)
    assert (quote.amount_in, quote.fee) == (cost + protocol + creator, protocol + creator)
    bought = await execute(
        rpc, trader, adapter.build_buy(state=state, owner=user, quote=quote, slippage_bps=100)
    )

    assert bought.status == ConfirmStatus.LANDED
    assert await tokens(rpc, ata_address(owner=user, mint=seeded.mint)) == amount
    assert [await balance(rpc, a) for a in (user, fee_to, vault, seeded.pumpfun.curve)] == [
        before[0] - cost - protocol - creator - TOKEN_ACCOUNT_RENT_LAMPORTS - FEE,
        before[1] + protocol,
        before[2] + creator,
        before[3] + cost,
    ]

    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    curve = state.curve
    gross = amount * curve.virtual_quote_reserves // (curve.virtual_token_reserves + amount)
    sell_protocol, sell_creator = -(-gross * 95 // 10_000), -(-gross * 30 // 10_000)
    quote = adapter.quote(state=state, side=Side.SELL, amount_in=amount)
    assert quote.amount_out == gross - sell_protocol - sell_creator
    sold = await execute(
        rpc, trader, adapter.build_sell(state=state, owner=user, quote=quote, slippage_bps=100)
    )

    assert sold.status == ConfirmStatus.LANDED
    assert await tokens(rpc, ata_address(owner=user, mint=seeded.mint)) == 0
    assert [await balance(rpc, a) for a in (user, fee_to, vault, seeded.pumpfun.curve)] == [
        before[0]
        - cost
        - protocol
        - creator
        - TOKEN_ACCOUNT_RENT_LAMPORTS
        - 2 * FEE
        + quote.amount_out,
        before[1] + protocol + sell_protocol,
        before[2] + creator + sell_creator,
        before[3] + cost - gross,
    ]


async def test_it_refuses_a_coin_quoted_in_anything_but_sol(rpc, cluster):
    usdc = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
    curve = dataclasses.replace(launch_curve(creator=Keypair().pubkey()), quote_mint=usdc)
    seeded = seed_token(cluster, raydium_reserves=None, pumpfun_curve=curve)
    adapter = get_adapter("pumpfun")

    with pytest.raises(DexError, match=f"quoted in {usdc}, not SOL"):
        await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    assert await adapter.find_pools(rpc=rpc, mint=seeded.mint) == []


def _scenario(buys: list[int], sell_fractions: list[int]) -> None:
    """Buys and sells against one curve; after each, every account moved by exactly what the
    adapter's quote said (trader, fee recipient, creator vault, curve, tokens)."""

    async def run():
        cluster = Cluster(slot_ms=0)
        rpc = RpcPool(
            endpoints=[EndpointConfig(name="l", url="http://l/", asgi_app=create_app(cluster))]
        )
        seeded = seed_token(
            cluster,
            raydium_reserves=None,
            token_program=TOKEN_2022_PROGRAM_ID,
            wallet_lamports=60 * LAMPORTS_PER_SOL,
            wallets=1,
        )
        adapter, trader = get_adapter("pumpfun"), seeded.wallets[0]
        user = trader.pubkey()
        token_ata = ata_address(owner=user, mint=seeded.mint, token_program=TOKEN_2022_PROGRAM_ID)
        tiers_seen = set()
        for lamports, fraction in zip(buys, sell_fractions, strict=True):
            for side in (Side.BUY, Side.SELL):
                state = await adapter.load_state(
                    rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint
                )
                fees = state.fees
                tiers_seen.add(fees.protocol_fee_bps)
                held = await tokens(rpc, token_ata)
                ata_existed = await balance(rpc, token_ata) > 0
                amount_in = lamports if side == Side.BUY else held * fraction // 100
                if amount_in == 0:
                    continue
                quote = adapter.quote(state=state, side=side, amount_in=amount_in)
                fee_to, vault = state.fee_recipient(user), seeded.pumpfun.creator_vault
                watched = (user, fee_to, vault, seeded.pumpfun.curve)
                before = [await balance(rpc, a) for a in watched]
                # A fresh blockhash: two equal trades must not be one transaction.
                cluster.advance_slots(1)
                build = adapter.build_buy if side == Side.BUY else adapter.build_sell
                ixs = build(state=state, owner=user, quote=quote, slippage_bps=0)
                result = await execute(rpc, trader, ixs)
                assert result.status == ConfirmStatus.LANDED
                after = [await balance(rpc, a) for a in watched]
                if side == Side.BUY:
                    lamports_to_curve = quote.amount_in - quote.fee
                    # A Token-2022 ATA (with its ImmutableOwner extension) costs its own rent.
                    rent = 0 if ata_existed else await balance(rpc, token_ata)
                    user_delta = -quote.amount_in - rent - FEE
                    assert await tokens(rpc, token_ata) == held + quote.amount_out
                else:
                    lamports_to_curve = -(quote.amount_out + quote.fee)
                    user_delta = quote.amount_out - FEE
                    assert await tokens(rpc, token_ata) == held - quote.amount_in
                gross = abs(lamports_to_curve)
                protocol, creator = fees.protocol_fee(gross), fees.creator_fee(gross)
                assert protocol + creator == quote.fee
                assert [a - b for a, b in zip(after, before, strict=True)] == [
                    user_delta,
                    protocol,
                    creator,
                    lamports_to_curve,
                ]
        return tiers_seen

    asyncio.run(run())


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(
    buys=st.lists(
        st.integers(min_value=10_000, max_value=12 * LAMPORTS_PER_SOL), min_size=1, max_size=3
    ),
    fractions=st.lists(st.integers(min_value=0, max_value=100), min_size=3, max_size=3),
)
def test_quotes_equal_what_the_emulated_program_charges_to_the_lamport(buys, fractions):
    _scenario(buys, fractions[: len(buys)])


def test_the_property_scenario_crosses_the_fee_tier_boundary():
    # 3 x 12 SOL of buys take the market cap past the seeded 40 SOL tier.
    _scenario([12 * LAMPORTS_PER_SOL] * 3, [0, 0, 100])


# -- what the emulated program refuses -------------------------------------------------------


def _old_buy(*, mint, user, fee_recipient) -> Instruction:
    """The original 12-account `buy` (rent sysvar where the creator vault now is), 24 bytes."""
    curve = pfs.bonding_curve_address(mint)
    metas = [
        AccountMeta(pfs.global_address(), False, False),
        AccountMeta(fee_recipient, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(curve, False, True),
        AccountMeta(ata_address(owner=curve, mint=mint), False, True),
        AccountMeta(ata_address(owner=user, mint=mint), False, True),
        AccountMeta(user, True, True),
        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(RENT_SYSVAR_ID, False, False),
        AccountMeta(pfs.event_authority_address(), False, False),
        AccountMeta(pf.PROGRAM_ID, False, False),
    ]
    return Instruction(
        pf.PROGRAM_ID, pf.BUY_DISCRIMINATOR + struct.pack("<QQ", 1_000, 10**9), metas
    )


def _old_sell(*, mint, user, fee_recipient) -> Instruction:
    """The original 12-account `sell` (associated token program at index 8)."""
    buy = _old_buy(mint=mint, user=user, fee_recipient=fee_recipient)
    metas = list(buy.accounts)
    metas[8:10] = [
        AccountMeta(ASSOCIATED_TOKEN_PROGRAM_ID, False, False),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
    ]
    return Instruction(pf.PROGRAM_ID, pf.SELL_DISCRIMINATOR + struct.pack("<QQ", 1_000, 0), metas)


async def _refused(rpc, seeded, trader, ix, code):
    watched = (trader.pubkey(), seeded.pumpfun.curve, seeded.pumpfun.creator_vault)
    before = [await balance(rpc, a) for a in watched]
    curve_tokens = await tokens(rpc, seeded.pumpfun.associated_curve)

    failed = await execute(rpc, trader, [ix], skip_preflight=True)

    assert failed.err == TransactionErrorInstructionError(2, InstructionErrorCustom(code))
    assert [await balance(rpc, a) for a in watched] == [before[0] - FEE, *before[1:]]
    assert await tokens(rpc, seeded.pumpfun.associated_curve) == curve_tokens


async def _buy_ix(rpc, seeded, trader):
    adapter = get_adapter("pumpfun")
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 10)
    return state, adapter.build_buy(
        state=state, owner=trader.pubkey(), quote=quote, slippage_bps=100
    )


def _with(ix: Instruction, index: int, meta: AccountMeta | None) -> Instruction:
    metas = list(ix.accounts)
    if meta is None:
        del metas[index:]
    else:
        metas[index] = meta
    return Instruction(ix.program_id, bytes(ix.data), metas)


async def test_it_refuses_the_old_twelve_account_forms_with_not_enough_keys(rpc, cluster):
    seeded = seed_token(cluster, raydium_reserves=None)
    trader = seeded.wallets[0]
    user, mint = trader.pubkey(), seeded.mint

    await _refused(
        rpc, seeded, trader, _old_buy(mint=mint, user=user, fee_recipient=PUMP_FEE_RECIPIENTS[0]),
        pf.ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS,
    )  # fmt: skip
    await _refused(
        rpc, seeded, trader, _old_sell(mint=mint, user=user, fee_recipient=PUMP_FEE_RECIPIENTS[0]),
        pf.ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS,
    )  # fmt: skip


async def test_it_refuses_a_creator_vault_not_derived_from_the_curves_creator(rpc, cluster):
    seeded = seed_token(cluster, raydium_reserves=None)
    trader = seeded.wallets[0]
    _, (_, buy) = await _buy_ix(rpc, seeded, trader)
    stale = pfs.creator_vault_address(Keypair().pubkey())

    await _refused(
        rpc, seeded, trader, _with(buy, 9, AccountMeta(stale, False, True)),
        pf.ANCHOR_CONSTRAINT_SEEDS,
    )  # fmt: skip


async def test_it_refuses_what_the_2026_accounts_and_recipients_rules_refuse(rpc, cluster):
    seeded = seed_token(
        cluster,
        raydium_reserves=None,
        pumpfun_curve=launch_curve(creator=Keypair().pubkey(), mayhem=True),
    )
    trader = seeded.wallets[0]
    state, (_, buy) = await _buy_ix(rpc, seeded, trader)
    stranger = Keypair().pubkey()

    cases = [
        (_with(buy, 16, None), pf.ERR_BUYBACK_FEE_RECIPIENT_MISSING),
        (_with(buy, 17, AccountMeta(stranger, False, True)),
         pf.ERR_BUYBACK_FEE_RECIPIENT_NOT_AUTHORIZED),
        (_with(buy, 17, AccountMeta(PUMP_BUYBACK_FEE_RECIPIENTS[0], False, False)),
         pf.ANCHOR_CONSTRAINT_MUT),
        (_with(buy, 16, AccountMeta(stranger, False, False)), pf.ANCHOR_CONSTRAINT_SEEDS),
        # A mayhem coin pays a reserved recipient, never a normal one.
        (_with(buy, 1, AccountMeta(PUMP_FEE_RECIPIENTS[0], False, True)), pf.ERR_NOT_AUTHORIZED),
        (_with(buy, 9, AccountMeta(buy.accounts[9].pubkey, False, False)),
         pf.ANCHOR_CONSTRAINT_MUT),
        (_with(buy, 14, AccountMeta(stranger, False, False)), pf.ANCHOR_CONSTRAINT_SEEDS),
        (_with(buy, 7, AccountMeta(stranger, False, False)), pf.ANCHOR_CONSTRAINT_ADDRESS),
    ]  # fmt: skip
    assert state.fee_recipient(trader.pubkey()) in state.global_state.all_reserved_fee_recipients
    for ix, code in cases:
        await _refused(rpc, seeded, trader, ix, code)


async def test_it_refuses_to_trade_on_a_completed_curve(rpc, cluster):
    migrated = seed_token(cluster, raydium_reserves=None, pumpfun_curve=migrated_curve())
    trader = migrated.wallets[0]
    ix = pf.buy_instruction(
        mint=migrated.mint,
        user=trader.pubkey(),
        creator=migrated.pumpfun.creator,
        fee_recipient=PUMP_FEE_RECIPIENTS[0],
        buyback_fee_recipient=PUMP_BUYBACK_FEE_RECIPIENTS[0],
        amount=1_000,
        max_sol_cost=LAMPORTS_PER_SOL,
    )

    await _refused(rpc, migrated, trader, ix, pf.ERR_BONDING_CURVE_COMPLETE)
