"""PumpSwap's `buy` and `sell`, emulated at pAMMBay… from `idl/pump_amm.json`.

Checked like the program: the data against the IDL's arguments; every IDL account (count,
signer, writable, fixed address, PDA seeds incl. the coin-creator vault from the pool's
`coin_creator`) by `anchor_idl.check_accounts`; the `relations` of the pool (mints and vaults:
ConstraintHasOne 2001); `GlobalConfig`; the protocol fee recipient (one of the eight, or of the
reserved eight for a mayhem pool: 6013); the 2026 remaining accounts (pool-v2 by its seeds, a
buyback recipient of `GlobalConfig` with its quote ATA: missing 6058, foreign 6053); amounts
(zero 6001, more than the pool holds 6016) and slippage (6004). The LP fee stays in the pool
vault, the protocol fee goes to the recipient's quote ATA, the coin-creator fee to the creator
vault's quote ATA (a cashback pool's: the trader's accumulator ATA when passed and open).

Not emulated: the buyback recipient's share, ATAs the program creates when missing (the seeded
recipients' ATAs exist), volume tracking and events.
"""

from __future__ import annotations

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from apps.chain.dex import pumpswap as ps
from apps.chain.dex import pumpswap_state as pss
from apps.chain.dex.pumpfees import fee_config_from_account
from apps.chain.spl import TOKEN_ACCOUNT_LEN, ata_address, decode_mint
from apps.localnet.emulation import anchor_idl
from apps.localnet.emulation.base import Overlay, Step, VenueFailure, trader_transfer

BUY = anchor_idl.instruction("pump_amm", "buy")
SELL = anchor_idl.instruction("pump_amm", "sell")
_OWNED_BY_WRONG_PROGRAM = 3007


def _owned(ov: Overlay, address: Pubkey, owner: Pubkey):
    account = ov.get(address)
    if account is None or account.owner != owner:
        raise VenueFailure(_OWNED_BY_WRONG_PROGRAM)
    return account


def _check(ix: Instruction, ov: Overlay, spec: anchor_idl.IdlInstruction, cashback_count: int):
    metas = ix.accounts
    if len(metas) < len(spec.accounts):
        raise VenueFailure(anchor_idl.ACCOUNT_NOT_ENOUGH_KEYS)
    pool = pss.Pool.decode(bytes(_owned(ov, metas[0].pubkey, pss.PROGRAM_ID).data))
    named = anchor_idl.check_accounts(spec, metas, fields={"pool.coin_creator": pool.coin_creator})
    for name, value in (
        ("base_mint", pool.base_mint),
        ("quote_mint", pool.quote_mint),
        ("pool_base_token_account", pool.pool_base_token_account),
        ("pool_quote_token_account", pool.pool_quote_token_account),
    ):
        if named[name].pubkey != value:
            raise VenueFailure(ps.ANCHOR_CONSTRAINT_HAS_ONE)
    config_acc = _owned(ov, named["global_config"].pubkey, pss.PROGRAM_ID)
    config = pss.GlobalConfig.decode(bytes(config_acc.data))
    allowed = (
        config.all_reserved_fee_recipients
        if pool.is_mayhem_mode
        else config.protocol_fee_recipients
    )
    if named["protocol_fee_recipient"].pubkey not in allowed:
        raise VenueFailure(ps.ERR_INVALID_PROTOCOL_FEE_RECIPIENT)
    remaining = list(metas[len(spec.accounts) :])
    if len(remaining) < 3:
        raise VenueFailure(ps.ERR_BUYBACK_FEE_RECIPIENT_MISSING)
    pool_v2, buyback, buyback_ata = remaining[-3:]
    quote_program = named["quote_token_program"].pubkey
    if pool_v2.pubkey != pss.pool_v2_address(pool.base_mint):
        raise VenueFailure(anchor_idl.CONSTRAINT_SEEDS)
    if buyback.pubkey not in config.buyback_fee_recipients:
        raise VenueFailure(ps.ERR_BUYBACK_FEE_RECIPIENT_NOT_AUTHORIZED)
    expected_ata = ata_address(
        owner=buyback.pubkey, mint=pool.quote_mint, token_program=quote_program
    )
    if buyback_ata.pubkey != expected_ata:
        raise VenueFailure(anchor_idl.CONSTRAINT_SEEDS)
    if not buyback_ata.is_writable:
        raise VenueFailure(anchor_idl.CONSTRAINT_MUT)
    mint_acc = _owned(ov, pool.base_mint, named["base_token_program"].pubkey)
    base_reserve = ov.token_amount(pool.pool_base_token_account)
    quote_reserve = ov.token_amount(pool.pool_quote_token_account)
    fees = pss.pool_fees(
        pool=pool,
        global_config=config,
        fee_config=fee_config_from_account(ov.get(named["fee_config"].pubkey)),
        base_reserve=base_reserve,
        quote_reserve=quote_reserve,
        base_supply=decode_mint(bytes(mint_acc.data)).supply,
    )
    creator_to = named["coin_creator_vault_ata"].pubkey
    cashback = remaining[:-3]
    if pool.is_cashback_coin and len(cashback) >= cashback_count:
        accumulator_ata = ata_address(
            owner=pss.user_volume_accumulator_address(named["user"].pubkey),
            mint=pool.quote_mint,
            token_program=quote_program,
        )
        opened = ov.get(cashback[0].pubkey)
        if (
            cashback[0].pubkey == accumulator_ata
            and opened is not None
            and len(opened.data) >= TOKEN_ACCOUNT_LEN
        ):
            creator_to = accumulator_ata
    return named, pool, fees, base_reserve, quote_reserve, creator_to


def _quote_payments(
    ov: Overlay,
    named,
    pool: pss.Pool,
    *,
    source: Pubkey,
    main: tuple[int, Pubkey],
    protocol_fee: int,
    creator_fee: int,
    creator_to: Pubkey,
) -> list[Instruction]:
    """The quote-token transfers of a trade from `source`: the `main` (amount, destination)
    leg, then the protocol and creator fees; a zero amount moves nothing."""
    return [
        trader_transfer(
            ov,
            named,
            source=source,
            destination=destination,
            mint=pool.quote_mint,
            amount=amount,
            program_name="quote_token_program",
        )
        for amount, destination in (
            main,
            (protocol_fee, named["protocol_fee_recipient_token_account"].pubkey),
            (creator_fee, creator_to),
        )
        if amount
    ]


def buy(ix: Instruction, ov: Overlay) -> Step:
    args = anchor_idl.decode_args(BUY, bytes(ix.data))
    named, pool, fees, base_reserve, quote_reserve, creator_to = _check(ix, ov, BUY, 1)
    base_out = args["base_amount_out"]
    if base_out == 0:
        raise VenueFailure(ps.ERR_ZERO_BASE_AMOUNT)
    if base_out >= base_reserve:
        raise VenueFailure(ps.ERR_BUY_MORE_BASE_AMOUNT_THAN_POOL_RESERVES)
    quote_in = pss.buy_quote_in(
        base_reserve=base_reserve, quote_reserve=quote_reserve, base_out=base_out
    )
    lp_fee, protocol_fee, creator_fee = fees.split(quote_in)
    if quote_in + lp_fee + protocol_fee + creator_fee > args["max_quote_amount_in"]:
        raise VenueFailure(ps.ERR_EXCEEDED_SLIPPAGE)
    user = named["user"].pubkey
    ov.delegate(pool.pool_base_token_account, to=user, amount=base_out)
    ov.move(pool.pool_base_token_account, -base_out)
    ov.move(pool.pool_quote_token_account, quote_in + lp_fee)
    ixs = _quote_payments(
        ov,
        named,
        pool,
        source=named["user_quote_token_account"].pubkey,
        main=(quote_in + lp_fee, pool.pool_quote_token_account),
        protocol_fee=protocol_fee,
        creator_fee=creator_fee,
        creator_to=creator_to,
    )
    ixs.append(
        trader_transfer(
            ov,
            named,
            source=pool.pool_base_token_account,
            destination=named["user_base_token_account"].pubkey,
            mint=pool.base_mint,
            amount=base_out,
            program_name="base_token_program",
        )
    )
    return Step(ixs)


def sell(ix: Instruction, ov: Overlay) -> Step:
    args = anchor_idl.decode_args(SELL, bytes(ix.data))
    named, pool, fees, base_reserve, quote_reserve, creator_to = _check(ix, ov, SELL, 2)
    base_in = args["base_amount_in"]
    if base_in == 0:
        raise VenueFailure(ps.ERR_ZERO_BASE_AMOUNT)
    quote_out = pss.sell_quote_out(
        base_reserve=base_reserve, quote_reserve=quote_reserve, base_in=base_in
    )
    lp_fee, protocol_fee, creator_fee = fees.split(quote_out)
    final = quote_out - lp_fee - protocol_fee - creator_fee
    if final < args["min_quote_amount_out"] or final <= 0:
        raise VenueFailure(ps.ERR_EXCEEDED_SLIPPAGE)
    user, vault = named["user"].pubkey, pool.pool_quote_token_account
    paid = final + protocol_fee + creator_fee
    ov.delegate(vault, to=user, amount=paid)
    ov.move(vault, -paid)
    ov.move(pool.pool_base_token_account, base_in)
    ixs = [
        trader_transfer(
            ov,
            named,
            source=named["user_base_token_account"].pubkey,
            destination=pool.pool_base_token_account,
            mint=pool.base_mint,
            amount=base_in,
            program_name="base_token_program",
        ),
        *_quote_payments(
            ov,
            named,
            pool,
            source=vault,
            main=(final, named["user_quote_token_account"].pubkey),
            protocol_fee=protocol_fee,
            creator_fee=creator_fee,
            creator_to=creator_to,
        ),
    ]
    return Step(ixs)


def emulate(ix: Instruction, ov: Overlay) -> Step:
    """Dispatch on the 8-byte discriminator (an unknown one: InstructionFallbackNotFound)."""
    return anchor_idl.dispatch(ix, ov, {BUY.discriminator: buy, SELL.discriminator: sell})
