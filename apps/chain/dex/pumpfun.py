"""pump.fun bonding curve (program 6EF8rrec…): the legacy `buy` and `sell` as mainnet takes them.

Account lists follow `idl/pump.json` (16 accounts for `buy`, 14 for `sell`) plus what the
2026-04-28 upgrade appends (`docs/BREAKING_FEE_RECIPIENT.md`): bonding-curve-v2 (read-only) and
one buyback fee recipient (writable); a cashback coin's `sell` puts the trader's
user_volume_accumulator first among those remaining accounts (the IDL's `sell` docs). So:
`buy` 18 accounts, `sell` 16 (17 for cashback coins). `buy` data is the discriminator, `amount`
u64, `max_sol_cost` u64 and `track_volume` OptionBool (25 bytes); `sell` is 24 bytes.

Why the legacy pair and not `buy_v2`/`sell_v2`: both take SOL-quoted coins with the same
quotes, but v2 makes `user_volume_accumulator` (init-if-needed, 137 bytes of rent paid by the
trader) and its quote ATA mandatory for every trade, so every maker wallet would leave rent
in a pump-owned account that the gather cannot sweep, and the transactions carry 27 accounts
instead of 18. v2 is only needed for non-SOL quotes, which the platform refuses.

Layouts, addresses and pricing are in `pumpfun_state`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solana.rpc.models import TokenAccountOpts
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import (
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex.anchor import discriminator
from apps.chain.dex.base import (
    BPS,
    DexAdapter,
    PoolRef,
    Quote,
    Side,
    check_token_mint,
    largest_buy,
    limit_or_max_in,
    limit_or_min_out,
    ro_meta,
    rw_meta,
)
from apps.chain.dex.pumpfees import FEE_PROGRAM_ID, FeeConfig, fee_config_from_account
from apps.chain.dex.pumpfun_state import (
    PROGRAM_ID,
    BondingCurve,
    CurveFees,
    Global,
    bonding_curve_address,
    bonding_curve_v2_address,
    buy_sol_cost,
    creator_vault_address,
    curve_fees,
    event_authority_address,
    fee_config_address,
    global_address,
    global_volume_accumulator_address,
    pick,
    sell_sol_output,
    user_volume_accumulator_address,
)
from apps.chain.errors import DexError, PoolNotFound, VenueMigrated
from apps.chain.spl import ata_address, create_ata_idempotent

BUY_DISCRIMINATOR = discriminator("global", "buy")
SELL_DISCRIMINATOR = discriminator("global", "sell")

# The program's own error codes (`errors` of the IDL).
ERR_NOT_AUTHORIZED = 6000
ERR_TOO_MUCH_SOL_REQUIRED = 6002
ERR_TOO_LITTLE_SOL_RECEIVED = 6003
ERR_BONDING_CURVE_COMPLETE = 6005
ERR_NOT_INITIALIZED = 6007
ERR_BUY_ZERO_AMOUNT = 6020
ERR_NOT_ENOUGH_TOKENS_TO_BUY = 6021
ERR_SELL_ZERO_AMOUNT = 6022
ERR_BUYBACK_FEE_RECIPIENT_NOT_AUTHORIZED = 6057
ERR_BUYBACK_FEE_RECIPIENT_MISSING = 6062
ERR_UNSUPPORTED_QUOTE_MINT = 6063
# Anchor framework codes for account validation.
ANCHOR_INSTRUCTION_DID_NOT_DESERIALIZE = 102
ANCHOR_CONSTRAINT_MUT = 2000
ANCHOR_CONSTRAINT_SEEDS = 2006
ANCHOR_CONSTRAINT_ADDRESS = 2012
ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS = 3005
ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM = 3007
ANCHOR_ACCOUNT_NOT_SIGNER = 3010


def _head(
    *, mint: Pubkey, user: Pubkey, fee_recipient: Pubkey, token_program: Pubkey
) -> list[AccountMeta]:
    """global … user: the first seven accounts, the same for `buy` and `sell`."""
    curve = bonding_curve_address(mint)
    return [
        ro_meta(global_address()),
        rw_meta(fee_recipient),
        ro_meta(mint),
        rw_meta(curve),
        rw_meta(ata_address(owner=curve, mint=mint, token_program=token_program)),
        rw_meta(ata_address(owner=user, mint=mint, token_program=token_program)),
        AccountMeta(user, is_signer=True, is_writable=True),
    ]


def buy_instruction(
    *,
    mint: Pubkey,
    user: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    max_sol_cost: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """`buy` of `amount` raw tokens: 18 accounts; volume tracking off (nothing to claim later)."""
    metas = [
        *_head(mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program),
        ro_meta(SYSTEM_PROGRAM_ID),
        ro_meta(token_program),
        rw_meta(creator_vault_address(creator)),
        ro_meta(event_authority_address()),
        ro_meta(PROGRAM_ID),
        ro_meta(global_volume_accumulator_address()),
        rw_meta(user_volume_accumulator_address(user)),
        ro_meta(fee_config_address()),
        ro_meta(FEE_PROGRAM_ID),
        ro_meta(bonding_curve_v2_address(mint)),
        rw_meta(buyback_fee_recipient),
    ]
    # track_volume is an OptionBool: a one-field struct, one byte.
    data = BUY_DISCRIMINATOR + struct.pack("<QQ?", amount, max_sol_cost, False)
    return Instruction(PROGRAM_ID, data, metas)


def sell_instruction(
    *,
    mint: Pubkey,
    user: Pubkey,
    creator: Pubkey,
    fee_recipient: Pubkey,
    buyback_fee_recipient: Pubkey,
    amount: int,
    min_sol_output: int,
    cashback: bool,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """`sell` of `amount` raw tokens: 16 accounts, 17 for a cashback coin."""
    metas = [
        *_head(mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program),
        ro_meta(SYSTEM_PROGRAM_ID),
        rw_meta(creator_vault_address(creator)),
        ro_meta(token_program),
        ro_meta(event_authority_address()),
        ro_meta(PROGRAM_ID),
        ro_meta(fee_config_address()),
        ro_meta(FEE_PROGRAM_ID),
    ]
    if cashback:
        metas.append(rw_meta(user_volume_accumulator_address(user)))
    metas += [ro_meta(bonding_curve_v2_address(mint)), rw_meta(buyback_fee_recipient)]
    data = SELL_DISCRIMINATOR + struct.pack("<QQ", amount, min_sol_output)
    return Instruction(PROGRAM_ID, data, metas)


@dataclass(frozen=True)
class PumpCurveState:
    address: Pubkey
    mint: Pubkey
    curve: BondingCurve
    global_state: Global
    fee_config: FeeConfig | None = None
    token_program: Pubkey = TOKEN_PROGRAM_ID

    @property
    def fees(self) -> CurveFees:
        return curve_fees(
            curve=self.curve, global_state=self.global_state, fee_config=self.fee_config
        )

    def fee_recipient(self, user: Pubkey) -> Pubkey:
        """Mayhem coins pay a reserved recipient; every other coin a normal one."""
        if self.curve.is_mayhem_mode:
            return pick(self.global_state.all_reserved_fee_recipients, user=user)
        return pick(self.global_state.all_fee_recipients, user=user)

    def buyback_fee_recipient(self, user: Pubkey) -> Pubkey:
        return pick(self.global_state.buyback_fee_recipients, user=user)


def _migrated(mint: Pubkey) -> VenueMigrated:
    return VenueMigrated(
        f"the pump.fun bonding curve of {mint} is complete: the token migrated, "
        "this venue no longer applies (trade it on its PumpSwap pool)"
    )


def check_sol_quoted(curve: BondingCurve, *, mint: Pubkey) -> None:
    """Refuse coins quoted in anything but SOL (their trades need `buy_v2` and quote ATAs)."""
    if not curve.sol_quoted:
        raise DexError(
            f"the pump.fun coin {mint} is quoted in {curve.quote_mint}, not SOL; "
            "only SOL-quoted pump.fun coins are supported"
        )


class PumpFun(DexAdapter):
    name = "pumpfun"
    program_id = PROGRAM_ID

    async def find_pools(self, *, rpc, mint: Pubkey) -> list[PoolRef]:
        """The mint's curve PDA if it exists, is SOL-quoted and still trades."""
        address = bonding_curve_address(mint)
        resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
        if resp.value is None or resp.value.owner != PROGRAM_ID:
            return []
        curve = BondingCurve.decode(bytes(resp.value.data))
        if curve.complete or not curve.sol_quoted:
            return []
        return [PoolRef(dex=self.name, address=address, base_mint=mint, quote_mint=WSOL_MINT)]

    def decode(self, *, address: Pubkey, data: bytes) -> BondingCurve:
        return BondingCurve.decode(data)

    async def load_state(
        self, *, rpc, address: Pubkey, mint: Pubkey | None = None
    ) -> PumpCurveState:
        """Load a curve, Global, the FeeConfig and the mint (for its token program)."""
        if mint is None:
            mint = await self._mint_of_curve(rpc=rpc, curve=address)
        elif bonding_curve_address(mint) != address:
            raise DexError(f"{address} is not the bonding curve of {mint}")
        keys = [address, global_address(), fee_config_address(), mint]
        resp = await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
        curve_acc, global_acc, fee_config_acc, mint_acc = resp.value
        if curve_acc is None or curve_acc.owner != PROGRAM_ID:
            raise PoolNotFound(f"no pump.fun bonding curve at {address}")
        if global_acc is None:
            raise DexError("pump.fun Global account is missing")
        check_token_mint(mint_acc, mint=mint)
        curve = BondingCurve.decode(bytes(curve_acc.data))
        if curve.complete:
            raise _migrated(mint)
        check_sol_quoted(curve, mint=mint)
        fee_config = fee_config_from_account(fee_config_acc)
        return PumpCurveState(
            address=address,
            mint=mint,
            curve=curve,
            global_state=Global.decode(bytes(global_acc.data)),
            fee_config=fee_config,
            # create_v2 coins are Token-2022 mints: the mint's owner says which.
            token_program=mint_acc.owner,
        )

    async def _mint_of_curve(self, *, rpc, curve: Pubkey) -> Pubkey:
        # The curve account does not store its mint: its token account (the ATA) does.
        for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            resp = await rpc.call(
                "getTokenAccountsByOwner",
                lambda c, p=program: c.get_token_accounts_by_owner(
                    curve, TokenAccountOpts(program_id=p)
                ),
            )
            for keyed in resp.value:
                mint = Pubkey.from_bytes(bytes(keyed.account.data)[:32])
                if bonding_curve_address(mint) == curve:
                    return mint
        raise DexError(f"cannot find the mint of bonding curve {curve}")

    def quote(self, *, state: PumpCurveState, side: Side, amount_in: int) -> Quote:
        curve, fees = state.curve, state.fees
        if curve.complete:
            raise _migrated(state.mint)
        if side == Side.SELL:
            gross = sell_sol_output(curve=curve, amount=amount_in)
            fee = fees.total(gross)
            return Quote(side=side, amount_in=amount_in, amount_out=max(gross - fee, 0), fee=fee)
        # A buy names the tokens; find the most tokens whose cost plus fees fits the budget.
        total_bps = fees.protocol_fee_bps + fees.creator_fee_bps
        budget_net = amount_in * BPS // (BPS + total_bps)
        tokens = (
            curve.virtual_token_reserves * budget_net // (curve.virtual_quote_reserves + budget_net)
        )

        def cost_and_fee(tokens: int) -> tuple[int, int]:
            cost = buy_sol_cost(curve=curve, amount=tokens)
            return cost, fees.total(cost)

        return largest_buy(
            amount_in=amount_in,
            first_guess=min(tokens, curve.real_token_reserves),
            cost_and_fee=cost_and_fee,
        )

    def build_buy(
        self,
        *,
        state: PumpCurveState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Create the owner's token ATA, then `buy` with max_sol_cost from the slippage."""
        max_cost = limit_or_max_in(quote=quote, slippage_bps=slippage_bps, limit=limit)
        return [
            create_ata_idempotent(
                payer=owner, owner=owner, mint=state.mint, token_program=state.token_program
            ),
            buy_instruction(
                mint=state.mint,
                user=owner,
                # Read from the curve every time: the creator can change.
                creator=state.curve.creator,
                fee_recipient=state.fee_recipient(owner),
                buyback_fee_recipient=state.buyback_fee_recipient(owner),
                amount=quote.amount_out,
                max_sol_cost=max_cost,
                token_program=state.token_program,
            ),
        ]

    def build_sell(
        self,
        *,
        state: PumpCurveState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        min_out = limit_or_min_out(quote=quote, slippage_bps=slippage_bps, limit=limit)
        return [
            sell_instruction(
                mint=state.mint,
                user=owner,
                creator=state.curve.creator,
                fee_recipient=state.fee_recipient(owner),
                buyback_fee_recipient=state.buyback_fee_recipient(owner),
                amount=quote.amount_in,
                min_sol_output=min_out,
                cashback=state.curve.is_cashback_coin,
                token_program=state.token_program,
            )
        ]
