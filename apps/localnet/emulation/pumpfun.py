"""pump.fun's legacy `buy` and `sell`, emulated at 6EF8rrec… from `idl/pump.json`.

Checked like the program: the instruction data against the IDL's arguments; every IDL account
(count, signer, writable, fixed address, PDA seeds, the creator vault from the curve's current
creator) by `anchor_idl.check_accounts`; then the remaining accounts of the 2026 upgrade
(bonding-curve-v2 by its seeds, a buyback fee recipient of `Global`: missing 6062, foreign
6057), the fee recipient (one of `Global`'s eight, or of the reserved eight for a mayhem coin:
6000), the curve (complete 6005, quoted in anything but SOL 6063) and the slippage bounds
(6002, 6003). Fees come from the FeeConfig tier (or `Global`), rounded up per component: the
protocol fee goes to the fee recipient, the creator fee to the creator vault, or, for a
cashback coin whose trader's user_volume_accumulator exists and is passed, to that account.

Not emulated (see the module docstring of `apps.localnet`): the buyback recipient's share
(it receives nothing here), the rent top-ups the program pays from the trader (creator vault,
user_volume_accumulator, curve extension to 115 bytes), events and volume tracking.
"""

from __future__ import annotations

from solders.account import Account
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from apps.chain.dex import pumpfun as pf
from apps.chain.dex import pumpfun_state as pfs
from apps.chain.dex.pumpfees import fee_config_from_account
from apps.chain.spl import close_account, sol_transfer
from apps.localnet.emulation import anchor_idl
from apps.localnet.emulation.base import Overlay, Step, VenueFailure, escrow, trader_transfer

BUY = anchor_idl.instruction("pump", "buy")
SELL = anchor_idl.instruction("pump", "sell")


def _decoded(ov: Overlay, address: Pubkey, *, owner: Pubkey):
    account = ov.get(address)
    if account is None or account.owner != owner:
        raise VenueFailure(pf.ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM)
    return account


def _check(ix: Instruction, ov: Overlay, spec: anchor_idl.IdlInstruction):
    """The checks `buy` and `sell` share; returns what the trade needs."""
    metas = ix.accounts
    if len(metas) < len(spec.accounts):
        raise VenueFailure(pf.ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS)
    curve_key = metas[3].pubkey
    curve_acc = _decoded(ov, curve_key, owner=pf.PROGRAM_ID)
    curve = pfs.BondingCurve.decode(bytes(curve_acc.data))
    named = anchor_idl.check_accounts(spec, metas, fields={"bonding_curve.creator": curve.creator})
    glob = pfs.Global.decode(bytes(_decoded(ov, named["global"].pubkey, owner=pf.PROGRAM_ID).data))
    if not glob.initialized:
        raise VenueFailure(pf.ERR_NOT_INITIALIZED)
    mint = named["mint"].pubkey
    if curve_key != pfs.bonding_curve_address(mint):
        raise VenueFailure(pf.ANCHOR_CONSTRAINT_SEEDS)
    token_program = named["token_program"].pubkey
    if _decoded(ov, mint, owner=token_program) is None:
        raise VenueFailure(pf.ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM)
    remaining = list(metas[len(spec.accounts) :])
    if len(remaining) < 2:
        raise VenueFailure(pf.ERR_BUYBACK_FEE_RECIPIENT_MISSING)
    buyback, v2 = remaining[-1], remaining[-2]
    if v2.pubkey != pfs.bonding_curve_v2_address(mint):
        raise VenueFailure(pf.ANCHOR_CONSTRAINT_SEEDS)
    if buyback.pubkey not in glob.buyback_fee_recipients:
        raise VenueFailure(pf.ERR_BUYBACK_FEE_RECIPIENT_NOT_AUTHORIZED)
    if not buyback.is_writable:
        raise VenueFailure(pf.ANCHOR_CONSTRAINT_MUT)
    allowed = glob.all_reserved_fee_recipients if curve.is_mayhem_mode else glob.all_fee_recipients
    if named["fee_recipient"].pubkey not in allowed:
        raise VenueFailure(pf.ERR_NOT_AUTHORIZED)
    if curve.complete:
        raise VenueFailure(pf.ERR_BONDING_CURVE_COMPLETE)
    if not curve.sol_quoted:
        raise VenueFailure(pf.ERR_UNSUPPORTED_QUOTE_MINT)
    fee_config = fee_config_from_account(ov.get(named["fee_config"].pubkey))
    fees = pfs.curve_fees(curve=curve, global_state=glob, fee_config=fee_config)
    return named, curve, curve_acc, fees, remaining[:-2]


def _creator_fee_destination(
    ov: Overlay, named, curve: pfs.BondingCurve, accumulator: Pubkey | None
) -> Pubkey:
    if curve.is_cashback_coin and accumulator is not None:
        account = ov.get(accumulator)
        if account is not None and account.owner == pf.PROGRAM_ID:
            return accumulator
    return named["creator_vault"].pubkey


def _token_transfer(
    ov: Overlay, named, *, source: Pubkey, destination: Pubkey, amount: int
) -> Instruction:
    """The coin moving between the trader's and the curve's token accounts (the trader signs:
    the curve's account is delegated to it first)."""
    return trader_transfer(
        ov,
        named,
        source=source,
        destination=destination,
        mint=named["mint"].pubkey,
        amount=amount,
        program_name="token_program",
    )


def buy(ix: Instruction, ov: Overlay) -> Step:
    args = anchor_idl.decode_args(BUY, bytes(ix.data))
    named, curve, curve_acc, fees, _ = _check(ix, ov, BUY)
    user = named["user"].pubkey
    if args["amount"] == 0:
        raise VenueFailure(pf.ERR_BUY_ZERO_AMOUNT)
    # Like the program, a buy larger than what is left takes the rest and completes the curve.
    amount = min(args["amount"], curve.real_token_reserves)
    if amount == 0:
        raise VenueFailure(pf.ERR_NOT_ENOUGH_TOKENS_TO_BUY)
    cost = pfs.buy_sol_cost(curve=curve, amount=amount)
    protocol_fee, creator_fee = fees.protocol_fee(cost), fees.creator_fee(cost)
    if cost + protocol_fee + creator_fee > args["max_sol_cost"]:
        raise VenueFailure(pf.ERR_TOO_MUCH_SOL_REQUIRED)
    after = curve.after_buy(amount=amount, sol_cost=cost)
    ov.put(
        named["bonding_curve"].pubkey, Account(curve_acc.lamports, after.encode(), pf.PROGRAM_ID)
    )
    curve_ata = named["associated_bonding_curve"].pubkey
    ov.delegate(curve_ata, to=user, amount=amount)
    creator_to = _creator_fee_destination(ov, named, curve, named["user_volume_accumulator"].pubkey)
    ixs = [sol_transfer(source=user, destination=named["bonding_curve"].pubkey, lamports=cost)]
    for lamports, destination in (
        (protocol_fee, named["fee_recipient"].pubkey),
        (creator_fee, creator_to),
    ):
        if lamports:
            ixs.append(sol_transfer(source=user, destination=destination, lamports=lamports))
    ixs.append(
        _token_transfer(
            ov, named, source=curve_ata, destination=named["associated_user"].pubkey, amount=amount
        )
    )
    return Step(ixs)


def sell(ix: Instruction, ov: Overlay) -> Step:
    args = anchor_idl.decode_args(SELL, bytes(ix.data))
    named, curve, curve_acc, fees, cashback_accounts = _check(ix, ov, SELL)
    user, mint = named["user"].pubkey, named["mint"].pubkey
    amount = args["amount"]
    if amount == 0:
        raise VenueFailure(pf.ERR_SELL_ZERO_AMOUNT)
    gross = pfs.sell_sol_output(curve=curve, amount=amount)
    protocol_fee, creator_fee = fees.protocol_fee(gross), fees.creator_fee(gross)
    out = gross - protocol_fee - creator_fee
    if out < args["min_sol_output"]:
        raise VenueFailure(pf.ERR_TOO_LITTLE_SOL_RECEIVED)
    after = curve.after_sell(amount=amount, sol_out=gross)
    curve_key = named["bonding_curve"].pubkey
    ov.put(curve_key, Account(curve_acc.lamports - gross, after.encode(), pf.PROGRAM_ID))
    accumulator = (
        cashback_accounts[0].pubkey
        if cashback_accounts
        and cashback_accounts[0].pubkey == pfs.user_volume_accumulator_address(user)
        else None
    )
    creator_to = _creator_fee_destination(ov, named, curve, accumulator)
    ixs = [
        _token_transfer(
            ov,
            named,
            source=named["associated_user"].pubkey,
            destination=named["associated_bonding_curve"].pubkey,
            amount=amount,
        )
    ]
    for lamports, destination in (
        (out, user),
        (protocol_fee, named["fee_recipient"].pubkey),
        (creator_fee, creator_to),
    ):
        if lamports:
            parked = escrow(ov, mint=mint, owner=user, lamports=lamports)
            ixs.append(close_account(account=parked, destination=destination, owner=user))
    return Step(ixs)


def emulate(ix: Instruction, ov: Overlay) -> Step:
    """Dispatch on the 8-byte discriminator (an unknown one: InstructionFallbackNotFound)."""
    return anchor_idl.dispatch(ix, ov, {BUY.discriminator: buy, SELL.discriminator: sell})
