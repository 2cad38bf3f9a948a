"""pump.fun bonding curve (program 6EF8rrec…), written from the public Anchor IDL.

Instructions: `buy(amount u64, max_sol_cost u64)` and `sell(amount u64, min_sol_output u64)`,
each an 8-byte discriminator sha256("global:<name>")[:8] followed by the borsh args, with
the IDL's 12-account lists. Accounts: `Global` (fee recipient, fee_basis_points, initial
reserves) at PDA ["global"] and `BondingCurve` (virtual/real reserves, total supply,
`complete`) at PDA ["bonding-curve", mint]; both start with sha256("account:<Name>")[:8].

Pricing on the virtual reserves: a buy of `amount` tokens costs
`virtual_sol * amount // (virtual_token - amount) + 1` lamports plus `fee_basis_points` of
that; a sell of `amount` tokens yields `amount * virtual_sol // (virtual_token + amount)`
less the fee. A `complete` curve has migrated: this venue no longer applies.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace

from solana.rpc.models import TokenAccountOpts
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    PUMPFUN_PROGRAM_ID,
    RENT_SYSVAR_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.dex.base import (
    BPS,
    DexAdapter,
    PoolRef,
    Quote,
    Side,
    limit_or_min_out,
    max_in_with_slippage,
)
from apps.chain.errors import DexError, PoolNotFound, VenueMigrated
from apps.chain.spl import ata_address, create_ata_idempotent

PROGRAM_ID = PUMPFUN_PROGRAM_ID


def _discriminator(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


BUY_DISCRIMINATOR = _discriminator("global", "buy")
SELL_DISCRIMINATOR = _discriminator("global", "sell")
GLOBAL_DISCRIMINATOR = _discriminator("account", "Global")
BONDING_CURVE_DISCRIMINATOR = _discriminator("account", "BondingCurve")

# Anchor error codes from the IDL.
ERR_NOT_AUTHORIZED = 6000
ERR_TOO_MUCH_SOL_REQUIRED = 6002
ERR_TOO_LITTLE_SOL_RECEIVED = 6003
ERR_MINT_DOES_NOT_MATCH_BONDING_CURVE = 6004
ERR_BONDING_CURVE_COMPLETE = 6005
ERR_NOT_INITIALIZED = 6007
# Anchor framework codes used for account validation failures.
ANCHOR_INSTRUCTION_FALLBACK_NOT_FOUND = 101
ANCHOR_CONSTRAINT_SEEDS = 2006
ANCHOR_ACCOUNT_NOT_ENOUGH_KEYS = 3005
ANCHOR_ACCOUNT_OWNED_BY_WRONG_PROGRAM = 3007
ANCHOR_ACCOUNT_NOT_SIGNER = 3010

_GLOBAL = struct.Struct("<8s?32s32s5Q")
_CURVE = struct.Struct("<8s5Q?")


def global_address() -> Pubkey:
    return Pubkey.find_program_address([b"global"], PROGRAM_ID)[0]


def event_authority_address() -> Pubkey:
    return Pubkey.find_program_address([b"__event_authority"], PROGRAM_ID)[0]


def bonding_curve_address(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve", bytes(mint)], PROGRAM_ID)[0]


def associated_bonding_curve_address(
    mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    return ata_address(owner=bonding_curve_address(mint), mint=mint, token_program=token_program)


@dataclass(frozen=True)
class Global:
    initialized: bool
    authority: Pubkey
    fee_recipient: Pubkey
    initial_virtual_token_reserves: int
    initial_virtual_sol_reserves: int
    initial_real_token_reserves: int
    token_total_supply: int
    fee_basis_points: int

    @classmethod
    def decode(cls, data: bytes) -> Global:
        if len(data) < _GLOBAL.size or data[:8] != GLOBAL_DISCRIMINATOR:
            raise DexError("not a pump.fun Global account")
        (_, init, auth, fee_to, ivt, ivs, irt, supply, fee_bps) = _GLOBAL.unpack_from(data)
        return cls(
            initialized=init,
            authority=Pubkey.from_bytes(auth),
            fee_recipient=Pubkey.from_bytes(fee_to),
            initial_virtual_token_reserves=ivt,
            initial_virtual_sol_reserves=ivs,
            initial_real_token_reserves=irt,
            token_total_supply=supply,
            fee_basis_points=fee_bps,
        )

    def encode(self) -> bytes:
        return _GLOBAL.pack(
            GLOBAL_DISCRIMINATOR,
            self.initialized,
            bytes(self.authority),
            bytes(self.fee_recipient),
            self.initial_virtual_token_reserves,
            self.initial_virtual_sol_reserves,
            self.initial_real_token_reserves,
            self.token_total_supply,
            self.fee_basis_points,
        )


@dataclass(frozen=True)
class BondingCurve:
    virtual_token_reserves: int
    virtual_sol_reserves: int
    real_token_reserves: int
    real_sol_reserves: int
    token_total_supply: int
    complete: bool

    @classmethod
    def decode(cls, data: bytes) -> BondingCurve:
        # Newer curves append fields (creator, …) after `complete`; they are not needed here.
        if len(data) < _CURVE.size or data[:8] != BONDING_CURVE_DISCRIMINATOR:
            raise DexError("not a pump.fun BondingCurve account")
        (_, vt, vs, rt, rs, supply, complete) = _CURVE.unpack_from(data)
        return cls(vt, vs, rt, rs, supply, complete)

    def encode(self) -> bytes:
        return _CURVE.pack(
            BONDING_CURVE_DISCRIMINATOR,
            self.virtual_token_reserves,
            self.virtual_sol_reserves,
            self.real_token_reserves,
            self.real_sol_reserves,
            self.token_total_supply,
            self.complete,
        )

    def after_buy(self, *, amount: int, sol_cost: int) -> BondingCurve:
        real_tokens = self.real_token_reserves - amount
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves - amount,
            virtual_sol_reserves=self.virtual_sol_reserves + sol_cost,
            real_token_reserves=real_tokens,
            real_sol_reserves=self.real_sol_reserves + sol_cost,
            complete=real_tokens == 0,
        )

    def after_sell(self, *, amount: int, sol_out: int) -> BondingCurve:
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves + amount,
            virtual_sol_reserves=self.virtual_sol_reserves - sol_out,
            real_token_reserves=self.real_token_reserves + amount,
            real_sol_reserves=self.real_sol_reserves - sol_out,
        )


def buy_sol_cost(*, curve: BondingCurve, amount: int) -> int:
    """Lamports (before fee) the curve charges for `amount` raw tokens."""
    return curve.virtual_sol_reserves * amount // (curve.virtual_token_reserves - amount) + 1


def sell_sol_output(*, curve: BondingCurve, amount: int) -> int:
    """Lamports (before fee) the curve pays for `amount` raw tokens."""
    return amount * curve.virtual_sol_reserves // (curve.virtual_token_reserves + amount)


def trade_fee(*, lamports: int, fee_basis_points: int) -> int:
    return lamports * fee_basis_points // BPS


def _trader_accounts(
    *, mint: Pubkey, user: Pubkey, fee_recipient: Pubkey, token_program: Pubkey
) -> list[AccountMeta]:
    """The first seven accounts, the same for `buy` and `sell` in the IDL."""
    curve = bonding_curve_address(mint)
    return [
        AccountMeta(global_address(), is_signer=False, is_writable=False),
        AccountMeta(fee_recipient, is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(curve, is_signer=False, is_writable=True),
        AccountMeta(ata_address(owner=curve, mint=mint, token_program=token_program), False, True),
        AccountMeta(ata_address(owner=user, mint=mint, token_program=token_program), False, True),
        AccountMeta(user, is_signer=True, is_writable=True),
    ]


def buy_instruction(
    *,
    mint: Pubkey,
    user: Pubkey,
    fee_recipient: Pubkey,
    amount: int,
    max_sol_cost: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """`buy`: the IDL's 12 accounts; `amount` is the number of raw tokens bought."""
    metas = [
        *_trader_accounts(
            mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program
        ),
        AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
        AccountMeta(token_program, is_signer=False, is_writable=False),
        AccountMeta(RENT_SYSVAR_ID, is_signer=False, is_writable=False),
        AccountMeta(event_authority_address(), is_signer=False, is_writable=False),
        AccountMeta(PROGRAM_ID, is_signer=False, is_writable=False),
    ]
    return Instruction(
        PROGRAM_ID, BUY_DISCRIMINATOR + struct.pack("<QQ", amount, max_sol_cost), metas
    )


def sell_instruction(
    *,
    mint: Pubkey,
    user: Pubkey,
    fee_recipient: Pubkey,
    amount: int,
    min_sol_output: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """`sell`: the IDL's 12 accounts (associated token program where `buy` has rent)."""
    metas = [
        *_trader_accounts(
            mint=mint, user=user, fee_recipient=fee_recipient, token_program=token_program
        ),
        AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
        AccountMeta(ASSOCIATED_TOKEN_PROGRAM_ID, is_signer=False, is_writable=False),
        AccountMeta(token_program, is_signer=False, is_writable=False),
        AccountMeta(event_authority_address(), is_signer=False, is_writable=False),
        AccountMeta(PROGRAM_ID, is_signer=False, is_writable=False),
    ]
    data = SELL_DISCRIMINATOR + struct.pack("<QQ", amount, min_sol_output)
    return Instruction(PROGRAM_ID, data, metas)


@dataclass(frozen=True)
class PumpCurveState:
    address: Pubkey
    mint: Pubkey
    curve: BondingCurve
    global_state: Global
    token_program: Pubkey = TOKEN_PROGRAM_ID


def _migrated(mint: Pubkey) -> VenueMigrated:
    return VenueMigrated(
        f"the pump.fun bonding curve of {mint} is complete: the token migrated, "
        "this venue no longer applies (trade it on its AMM pool)"
    )


class PumpFun(DexAdapter):
    name = "pumpfun"
    program_id = PROGRAM_ID

    async def find_pools(self, *, rpc, mint: Pubkey) -> list[PoolRef]:
        """The mint's curve PDA if it exists and still trades (complete curves are skipped)."""
        address = bonding_curve_address(mint)
        resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
        if resp.value is None or resp.value.owner != PROGRAM_ID:
            return []
        if BondingCurve.decode(bytes(resp.value.data)).complete:
            return []
        return [PoolRef(dex=self.name, address=address, base_mint=mint, quote_mint=WSOL_MINT)]

    def decode(self, *, address: Pubkey, data: bytes) -> BondingCurve:
        return BondingCurve.decode(data)

    async def load_state(
        self, *, rpc, address: Pubkey, mint: Pubkey | None = None
    ) -> PumpCurveState:
        """Load a curve; `address` may be the curve or, with `mint`, is checked against its PDA."""
        keys = [address, global_address()]
        resp = await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
        curve_acc, global_acc = resp.value
        if curve_acc is None or curve_acc.owner != PROGRAM_ID:
            raise PoolNotFound(f"no pump.fun bonding curve at {address}")
        if global_acc is None:
            raise DexError("pump.fun Global account is missing")
        if mint is None:
            mint = await self._mint_of_curve(rpc=rpc, curve=address)
        elif bonding_curve_address(mint) != address:
            raise DexError(f"{address} is not the bonding curve of {mint}")
        curve = BondingCurve.decode(bytes(curve_acc.data))
        if curve.complete:
            raise _migrated(mint)
        return PumpCurveState(
            address=address,
            mint=mint,
            curve=curve,
            global_state=Global.decode(bytes(global_acc.data)),
        )

    async def _mint_of_curve(self, *, rpc, curve: Pubkey) -> Pubkey:
        # The curve account does not store its mint: its token account (the ATA) does.
        resp = await rpc.call(
            "getTokenAccountsByOwner",
            lambda c: c.get_token_accounts_by_owner(
                curve, TokenAccountOpts(program_id=TOKEN_PROGRAM_ID)
            ),
        )
        for keyed in resp.value:
            mint = Pubkey.from_bytes(bytes(keyed.account.data)[:32])
            if bonding_curve_address(mint) == curve:
                return mint
        raise DexError(f"cannot find the mint of bonding curve {curve}")

    def quote(self, *, state: PumpCurveState, side: Side, amount_in: int) -> Quote:
        curve, fee_bps = state.curve, state.global_state.fee_basis_points
        if curve.complete:
            raise _migrated(state.mint)
        if side == Side.SELL:
            gross = sell_sol_output(curve=curve, amount=amount_in)
            fee = trade_fee(lamports=gross, fee_basis_points=fee_bps)
            return Quote(side=side, amount_in=amount_in, amount_out=gross - fee, fee=fee)
        # A buy names the tokens; find the most tokens whose cost plus fee fits the budget.
        budget_net = amount_in * BPS // (BPS + fee_bps)
        tokens = (
            curve.virtual_token_reserves * budget_net // (curve.virtual_sol_reserves + budget_net)
        )
        tokens = min(tokens, curve.real_token_reserves)
        while tokens > 0:
            cost = buy_sol_cost(curve=curve, amount=tokens)
            fee = trade_fee(lamports=cost, fee_basis_points=fee_bps)
            if cost + fee <= amount_in:
                return Quote(side=side, amount_in=cost + fee, amount_out=tokens, fee=fee)
            tokens -= max(1, tokens // 1_000_000)
        raise DexError("amount too small to buy a single raw token")

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
        max_cost = (
            limit
            if limit is not None
            else max_in_with_slippage(amount_in=quote.amount_in, slippage_bps=slippage_bps)
        )
        return [
            create_ata_idempotent(
                payer=owner, owner=owner, mint=state.mint, token_program=state.token_program
            ),
            buy_instruction(
                mint=state.mint,
                user=owner,
                fee_recipient=state.global_state.fee_recipient,
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
                fee_recipient=state.global_state.fee_recipient,
                amount=quote.amount_in,
                min_sol_output=min_out,
                token_program=state.token_program,
            )
        ]
