"""pump.fun `buy`/`sell` as the builders send them, against the official IDL (golden tests).

Every account (address or seed rule, writable, signer) and the data bytes are derived from
`apps/chain/dex/idl/pump.json` plus the remaining accounts documented in
`BREAKING_FEE_RECIPIENT.md` and the IDL's `sell` docs, for a plain coin, a Token-2022
(`create_v2`) coin, a cashback coin and a mayhem coin.
"""

from __future__ import annotations

import dataclasses

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from apps.chain.dex.base import Side
from apps.chain.dex.registry import get_adapter
from apps.localnet.seed import (
    PUMP_BUYBACK_FEE_RECIPIENTS,
    PUMP_FEE_RECIPIENTS,
    PUMP_RESERVED_FEE_RECIPIENTS,
    launch_curve,
    seed_token,
)

from .pump_idl_support import (
    PUMP_PROGRAM,
    assert_same_accounts,
    expected_data,
    expected_pump_buy,
    expected_pump_sell,
)

CREATOR = Pubkey.from_string("9XDYTfQKwW8sHPqnFdUreMmtmffmkHVPGTNV2e3LKxNW")
COINS = {
    "plain": dict(token_program=TOKEN_PROGRAM_ID, cashback=False, mayhem=False),
    "token2022": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=False, mayhem=False),
    "cashback": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=True, mayhem=False),
    "mayhem": dict(token_program=TOKEN_2022_PROGRAM_ID, cashback=False, mayhem=True),
}


async def _trade(rpc, cluster, kind):
    coin = COINS[kind]
    seeded = seed_token(
        cluster,
        raydium_reserves=None,
        token_program=coin["token_program"],
        pumpfun_curve=launch_curve(
            creator=CREATOR, cashback=coin["cashback"], mayhem=coin["mayhem"]
        ),
    )
    adapter = get_adapter("pumpfun")
    state = await adapter.load_state(rpc=rpc, address=seeded.pumpfun.curve, mint=seeded.mint)
    user = seeded.wallets[0].pubkey()
    buy_quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    buy = adapter.build_buy(state=state, owner=user, quote=buy_quote, slippage_bps=100)[-1]
    sell_quote = adapter.quote(state=state, side=Side.SELL, amount_in=buy_quote.amount_out)
    sell = adapter.build_sell(state=state, owner=user, quote=sell_quote, slippage_bps=100)[-1]
    return seeded, state, user, buy_quote, buy, sell_quote, sell


def _accounts(seeded, user: Pubkey, ix: Instruction, *, kind: str) -> dict:
    """The arguments of `expected_pump_buy`/`_sell` for a coin of `kind` traded by `user`.
    The fee and buyback recipients are the builder's choice, checked against the documented
    sets (docs/FEE_RECIPIENTS.md); the rest of the list must then match exactly."""
    fee_recipient, buyback = ix.accounts[1].pubkey, ix.accounts[-1].pubkey
    allowed = PUMP_RESERVED_FEE_RECIPIENTS if COINS[kind]["mayhem"] else PUMP_FEE_RECIPIENTS
    assert fee_recipient in allowed, f"fee_recipient {fee_recipient} is not allowed"
    assert buyback in PUMP_BUYBACK_FEE_RECIPIENTS, f"buyback_fee_recipient {buyback} unknown"
    return dict(
        mint=seeded.mint,
        user=user,
        creator=CREATOR,
        fee_recipient=fee_recipient,
        buyback_fee_recipient=buyback,
        token_program=COINS[kind]["token_program"],
    )


@pytest.mark.parametrize("kind", sorted(COINS))
async def test_it_builds_pumpfun_buy_exactly_as_the_idl_prescribes(rpc, cluster, kind):
    seeded, state, user, quote, buy, _, _ = await _trade(rpc, cluster, kind)

    expected = expected_pump_buy(**_accounts(seeded, user, buy, kind=kind))

    assert state.token_program == COINS[kind]["token_program"]
    assert len(expected) == 18
    assert_same_accounts(buy, expected, program=PUMP_PROGRAM)
    max_cost = quote.amount_in * 10_100 // 10_000
    assert bytes(buy.data) == expected_data(
        "pump", "buy", amount=quote.amount_out, max_sol_cost=max_cost, track_volume=False
    )
    assert len(bytes(buy.data)) == 25


@pytest.mark.parametrize("kind", sorted(COINS))
async def test_it_builds_pumpfun_sell_exactly_as_the_idl_prescribes(rpc, cluster, kind):
    seeded, _, user, _, _, quote, sell = await _trade(rpc, cluster, kind)

    expected = expected_pump_sell(
        **_accounts(seeded, user, sell, kind=kind), cashback=COINS[kind]["cashback"]
    )

    assert len(expected) == (17 if COINS[kind]["cashback"] else 16)
    assert_same_accounts(sell, expected, program=PUMP_PROGRAM)
    min_out = quote.amount_out * 9_900 // 10_000
    assert bytes(sell.data) == expected_data(
        "pump", "sell", amount=quote.amount_in, min_sol_output=min_out
    )


async def test_it_names_the_account_a_builder_got_wrong(rpc, cluster):
    seeded, _, user, _, buy, _, sell = await _trade(rpc, cluster, "cashback")
    common = _accounts(seeded, user, buy, kind="cashback")
    cases = [
        (buy, expected_pump_buy(**common)),
        (sell, expected_pump_sell(**common, cashback=True)),
    ]
    stranger = Pubkey.from_string("11111111111111111111111111111112")

    for ix, expected in cases:
        for index, want in enumerate(expected):
            sent = ix.accounts[index]
            # One account changed: another key, or the same key with the other writability.
            for changed in (
                AccountMeta(stranger, sent.is_signer, sent.is_writable),
                AccountMeta(sent.pubkey, sent.is_signer, not sent.is_writable),
            ):
                metas = list(ix.accounts)
                metas[index] = changed
                broken = Instruction(ix.program_id, bytes(ix.data), metas)
                with pytest.raises(AssertionError, match=rf"#{index} {want.name} "):
                    assert_same_accounts(broken, expected, program=PUMP_PROGRAM)


async def test_it_derives_the_creator_vault_from_the_curves_current_creator(rpc, cluster):
    _, state, user, quote, _, _, _ = await _trade(rpc, cluster, "plain")
    adapter = get_adapter("pumpfun")
    new_creator = Pubkey.from_string("FFWtrEQ4B4PKQoVuHYzZq8FabGkVatYzDpEVHsK5rrhF")
    moved = dataclasses.replace(state, curve=dataclasses.replace(state.curve, creator=new_creator))

    buy = adapter.build_buy(state=moved, owner=user, quote=quote, slippage_bps=0)[-1]

    vault = Pubkey.find_program_address([b"creator-vault", bytes(new_creator)], PUMP_PROGRAM)[0]
    assert buy.accounts[9].pubkey == vault
