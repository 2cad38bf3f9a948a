"""PumpSwap (pump_amm), where pump.fun coins trade once their curve completes: `buy` and `sell`
as mainnet takes them.

Account lists follow `idl/pump_amm.json` (23 accounts for `buy`, 21 for `sell`), then the
remaining accounts: a cashback pool's WSOL ATA of the trader's user_volume_accumulator (`buy`),
or that ATA and the accumulator (`sell`) (the IDL's `buy` docs and PUMP_CASHBACK_README.md);
then, since the 2026-04-28 upgrade (BREAKING_FEE_RECIPIENT.md), pool-v2 (read-only), one buyback
fee recipient (read-only) and its quote ATA (writable). So `buy` 26 (27 cashback), `sell` 24
(26 cashback). `buy` data: discriminator, base_amount_out u64, max_quote_amount_in u64,
track_volume OptionBool; `sell`: base_amount_in u64, min_quote_amount_out u64.

Only WSOL-quoted pools are traded: the trader wraps SOL into a WSOL ATA for a buy and closes it
after a buy or a sell, so nothing stays wrapped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solana.rpc.models import MemcmpOpts
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from apps.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
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
    sol_buy_instructions,
    sol_sell_instructions,
)
from apps.chain.dex.pumpfees import FEE_PROGRAM_ID, FeeConfig, fee_config_from_account
from apps.chain.dex.pumpfun_state import pick
from apps.chain.dex.pumpswap_state import (
    POOL_BASE_MINT_OFFSET,
    POOL_DISCRIMINATOR,
    POOL_QUOTE_MINT_OFFSET,
    PROGRAM_ID,
    GlobalConfig,
    Pool,
    PoolFees,
    buy_quote_in,
    canonical_pool_address,
    coin_creator_vault_authority_address,
    event_authority_address,
    fee_config_address,
    global_config_address,
    global_volume_accumulator_address,
    pool_fees,
    pool_v2_address,
    sell_quote_out,
    user_volume_accumulator_address,
)
from apps.chain.errors import DexError, PoolNotFound
from apps.chain.spl import (
    ata_address,
    create_ata_idempotent,
    decode_mint,
    decode_token_account,
)

BUY_DISCRIMINATOR = discriminator("global", "buy")
SELL_DISCRIMINATOR = discriminator("global", "sell")

# The program's own error codes (`errors` of the IDL).
ERR_ZERO_BASE_AMOUNT = 6001
ERR_EXCEEDED_SLIPPAGE = 6004
ERR_INVALID_PROTOCOL_FEE_RECIPIENT = 6013
ERR_BUY_MORE_BASE_AMOUNT_THAN_POOL_RESERVES = 6016
ERR_BUYBACK_FEE_RECIPIENT_NOT_AUTHORIZED = 6053
ERR_BUYBACK_FEE_RECIPIENT_MISSING = 6058
# Anchor's `has_one` (the IDL's `relations`) failing.
ANCHOR_CONSTRAINT_HAS_ONE = 2001


@dataclass(frozen=True)
class SwapAccounts:
    """What one trader's swap on one pool names (the rest is derived)."""

    pool_address: Pubkey
    pool: Pool
    user: Pubkey
    base_token_program: Pubkey
    protocol_fee_recipient: Pubkey
    buyback_fee_recipient: Pubkey
    quote_token_program: Pubkey = TOKEN_PROGRAM_ID


def _common(a: SwapAccounts) -> list[AccountMeta]:
    """pool … coin_creator_vault_authority: the first 19 accounts of `buy` and `sell`."""
    pool, quote_program = a.pool, a.quote_token_program
    vault_authority = coin_creator_vault_authority_address(pool.coin_creator)
    return [
        rw_meta(a.pool_address),
        AccountMeta(a.user, is_signer=True, is_writable=True),
        ro_meta(global_config_address()),
        ro_meta(pool.base_mint),
        ro_meta(pool.quote_mint),
        rw_meta(ata_address(owner=a.user, mint=pool.base_mint, token_program=a.base_token_program)),
        rw_meta(ata_address(owner=a.user, mint=pool.quote_mint, token_program=quote_program)),
        rw_meta(pool.pool_base_token_account),
        rw_meta(pool.pool_quote_token_account),
        ro_meta(a.protocol_fee_recipient),
        rw_meta(
            ata_address(
                owner=a.protocol_fee_recipient, mint=pool.quote_mint, token_program=quote_program
            )
        ),
        ro_meta(a.base_token_program),
        ro_meta(quote_program),
        ro_meta(SYSTEM_PROGRAM_ID),
        ro_meta(ASSOCIATED_TOKEN_PROGRAM_ID),
        ro_meta(event_authority_address()),
        ro_meta(PROGRAM_ID),
        rw_meta(
            ata_address(owner=vault_authority, mint=pool.quote_mint, token_program=quote_program)
        ),
        ro_meta(vault_authority),
    ]


def _trailing(a: SwapAccounts) -> list[AccountMeta]:
    return [
        ro_meta(pool_v2_address(a.pool.base_mint)),
        ro_meta(a.buyback_fee_recipient),
        rw_meta(
            ata_address(
                owner=a.buyback_fee_recipient,
                mint=a.pool.quote_mint,
                token_program=a.quote_token_program,
            )
        ),
    ]


def _accumulator_quote_ata(a: SwapAccounts) -> Pubkey:
    return ata_address(
        owner=user_volume_accumulator_address(a.user),
        mint=a.pool.quote_mint,
        token_program=a.quote_token_program,
    )


def buy_instruction(
    *, accounts: SwapAccounts, base_amount_out: int, max_quote_amount_in: int
) -> Instruction:
    """`buy` of exactly `base_amount_out`: 26 accounts, 27 for a cashback pool."""
    metas = [
        *_common(accounts),
        ro_meta(global_volume_accumulator_address()),
        rw_meta(user_volume_accumulator_address(accounts.user)),
        ro_meta(fee_config_address()),
        ro_meta(FEE_PROGRAM_ID),
    ]
    if accounts.pool.is_cashback_coin:
        metas.append(rw_meta(_accumulator_quote_ata(accounts)))
    metas += _trailing(accounts)
    data = BUY_DISCRIMINATOR + struct.pack("<QQ?", base_amount_out, max_quote_amount_in, False)
    return Instruction(PROGRAM_ID, data, metas)


def sell_instruction(
    *, accounts: SwapAccounts, base_amount_in: int, min_quote_amount_out: int
) -> Instruction:
    """`sell` of exactly `base_amount_in`: 24 accounts, 26 for a cashback pool."""
    metas = [*_common(accounts), ro_meta(fee_config_address()), ro_meta(FEE_PROGRAM_ID)]
    if accounts.pool.is_cashback_coin:
        metas += [
            rw_meta(_accumulator_quote_ata(accounts)),
            rw_meta(user_volume_accumulator_address(accounts.user)),
        ]
    metas += _trailing(accounts)
    data = SELL_DISCRIMINATOR + struct.pack("<QQ", base_amount_in, min_quote_amount_out)
    return Instruction(PROGRAM_ID, data, metas)


@dataclass(frozen=True)
class PumpSwapState:
    address: Pubkey
    pool: Pool
    global_config: GlobalConfig
    fee_config: FeeConfig | None
    base_reserve: int
    quote_reserve: int
    base_supply: int
    base_token_program: Pubkey

    @property
    def mint(self) -> Pubkey:
        return self.pool.base_mint

    @property
    def fees(self) -> PoolFees:
        return pool_fees(
            pool=self.pool,
            global_config=self.global_config,
            fee_config=self.fee_config,
            base_reserve=self.base_reserve,
            quote_reserve=self.quote_reserve,
            base_supply=self.base_supply,
        )

    def accounts(self, user: Pubkey) -> SwapAccounts:
        config = self.global_config
        # Mayhem pools pay a reserved recipient; the docs recommend varying the recipient.
        recipients = (
            config.all_reserved_fee_recipients
            if self.pool.is_mayhem_mode
            else config.protocol_fee_recipients
        )
        return SwapAccounts(
            pool_address=self.address,
            pool=self.pool,
            user=user,
            base_token_program=self.base_token_program,
            protocol_fee_recipient=pick(recipients, user=user),
            buyback_fee_recipient=pick(config.buyback_fee_recipients, user=user),
        )


class PumpSwap(DexAdapter):
    name = "pumpswap"
    program_id = PROGRAM_ID

    async def find_pools(self, *, rpc, mint: Pubkey) -> list[PoolRef]:
        """The mint's WSOL pools: every pool with it as base and WSOL as quote
        (getProgramAccounts on both mint offsets), the canonical one first."""
        resp = await rpc.call(
            "getProgramAccounts",
            lambda c: c.get_program_accounts(
                PROGRAM_ID,
                encoding="base64",
                filters=[
                    MemcmpOpts(offset=POOL_BASE_MINT_OFFSET, bytes=str(mint)),
                    MemcmpOpts(offset=POOL_QUOTE_MINT_OFFSET, bytes=str(WSOL_MINT)),
                ],
            ),
        )
        canonical = canonical_pool_address(base_mint=mint, quote_mint=WSOL_MINT)
        found = sorted(
            (
                keyed.pubkey
                for keyed in resp.value
                if bytes(keyed.account.data)[:8] == POOL_DISCRIMINATOR
            ),
            key=lambda address: (address != canonical, str(address)),
        )
        return [
            PoolRef(dex=self.name, address=address, base_mint=mint, quote_mint=WSOL_MINT)
            for address in found
        ]

    def decode(self, *, address: Pubkey, data: bytes) -> Pool:
        return Pool.decode(data)

    async def load_state(self, *, rpc, address: Pubkey) -> PumpSwapState:
        """The pool, its vault balances, the base mint, GlobalConfig and the FeeConfig."""
        resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
        if resp.value is None or resp.value.owner != PROGRAM_ID:
            raise PoolNotFound(f"no PumpSwap pool at {address}")
        pool = Pool.decode(bytes(resp.value.data))
        if pool.quote_mint != WSOL_MINT:
            raise DexError(
                f"the PumpSwap pool {address} is quoted in {pool.quote_mint}, not SOL; "
                "only SOL-quoted pools are supported"
            )
        keys = [
            pool.pool_base_token_account,
            pool.pool_quote_token_account,
            pool.base_mint,
            global_config_address(),
            fee_config_address(),
        ]
        resp = await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
        base_acc, quote_acc, mint_acc, config_acc, fee_config_acc = resp.value
        if base_acc is None or quote_acc is None:
            raise DexError(f"PumpSwap pool {address} is missing its vaults")
        check_token_mint(mint_acc, mint=pool.base_mint)
        if config_acc is None or config_acc.owner != PROGRAM_ID:
            raise DexError("PumpSwap GlobalConfig account is missing")
        return PumpSwapState(
            address=address,
            pool=pool,
            global_config=GlobalConfig.decode(bytes(config_acc.data)),
            fee_config=fee_config_from_account(fee_config_acc),
            base_reserve=decode_token_account(bytes(base_acc.data)).amount,
            quote_reserve=decode_token_account(bytes(quote_acc.data)).amount,
            base_supply=decode_mint(bytes(mint_acc.data)).supply,
            base_token_program=mint_acc.owner,
        )

    def quote(self, *, state: PumpSwapState, side: Side, amount_in: int) -> Quote:
        fees, base, quote = state.fees, state.base_reserve, state.quote_reserve
        if side == Side.SELL:
            gross = sell_quote_out(base_reserve=base, quote_reserve=quote, base_in=amount_in)
            fee = sum(fees.split(gross))
            return Quote(side=side, amount_in=amount_in, amount_out=max(gross - fee, 0), fee=fee)
        # A buy names the base amount; find the most whose cost plus fees fits the budget.
        net = amount_in * BPS // (BPS + fees.total_bps)

        def cost_and_fee(tokens: int) -> tuple[int, int]:
            cost = buy_quote_in(base_reserve=base, quote_reserve=quote, base_out=tokens)
            return cost, sum(fees.split(cost))

        return largest_buy(
            amount_in=amount_in,
            first_guess=min(base * net // (quote + net), base - 1),
            cost_and_fee=cost_and_fee,
        )

    def build_buy(
        self,
        *,
        state: PumpSwapState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Wrap the most the buy may cost, create the base ATA, buy, close the WSOL account."""
        max_in = limit_or_max_in(quote=quote, slippage_bps=slippage_bps, limit=limit)
        return sol_buy_instructions(
            owner=owner,
            lamports=max_in,
            token_ata=create_ata_idempotent(
                payer=owner, owner=owner, mint=state.mint, token_program=state.base_token_program
            ),
            swap=buy_instruction(
                accounts=state.accounts(owner),
                base_amount_out=quote.amount_out,
                max_quote_amount_in=max_in,
            ),
        )

    def build_sell(
        self,
        *,
        state: PumpSwapState,
        owner: Pubkey,
        quote: Quote,
        slippage_bps: int,
        limit: int | None = None,
    ) -> list[Instruction]:
        """Open a WSOL account for the proceeds, sell, close it (the SOL comes back)."""
        min_out = limit_or_min_out(quote=quote, slippage_bps=slippage_bps, limit=limit)
        return sol_sell_instructions(
            owner=owner,
            swap=sell_instruction(
                accounts=state.accounts(owner),
                base_amount_in=quote.amount_in,
                min_quote_amount_out=min_out,
            ),
        )
