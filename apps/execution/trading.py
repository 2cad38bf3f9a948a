"""One trade, shared by every step that trades (the trade step, its batches, the pre-flight's
simulated buy, the gather's sells): the campaign's params and fee policy, the pool's state,
the transaction spec (quote → swap instructions), Jito's client and tip, the amount a trade
spends, and a landed trade's outcome (`trade_done`: result, ledger rows, run totals, event).
"""

from __future__ import annotations

import functools
import random

from django.conf import settings
from solders.pubkey import Pubkey

from apps.campaigns.domain import Params
from apps.campaigns.models import CampaignRun
from apps.chain.dex.base import Side as DexSide
from apps.chain.dex.registry import get_adapter
from apps.chain.jito import JITO_REGIONS, JitoClient, JitoRotation
from apps.chain.tx import FixedFee, PercentileFee
from apps.core.budgets import JitoEngine, jito_budget, jito_engines
from apps.execution import domain
from apps.execution.ledger import TradeWrite, landed_failed, ledger_rows, trade_writes
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.outcomes import Done
from apps.execution.planner import Side
from apps.execution.sending import TxSpec
from apps.wallets.models import Wallet

DRY_RUN, SELL_ONLY, JITO = "dry_run", "sell_only", "jito"
# Swaps per Jito bundle: a bundle holds 5 transactions; 4 swaps, the tip riding in the last.
BUNDLE_TRADES = 4


def run_params(run: CampaignRun) -> Params:
    return Params.from_json(run.campaign.params)


def params_by_run(jobs: list[Job]) -> dict[int, Params]:
    return {run.pk: run_params(run) for run in {job.run_id: job.run for job in jobs}.values()}


def fee_policy(params: Params) -> FixedFee | PercentileFee:
    if params.priority_fee_policy == "dynamic":
        return PercentileFee(
            percentile=params.priority_fee_percentile,
            cap_micro_lamports=params.priority_fee_cap_micro_lamports,
        )
    return FixedFee(params.priority_fee_micro_lamports)


async def pool_read(rpc, *, pool_dex: str, pool_address: str, mint: str):
    adapter = get_adapter(pool_dex)
    kwargs = {"mint": Pubkey.from_string(mint)} if pool_dex == "pumpfun" else {}
    return adapter, await adapter.load_state(
        rpc=rpc, address=Pubkey.from_string(pool_address), **kwargs
    )


def trade_spec(
    *, run: CampaignRun, params: Params, maker: Wallet, side: str, amount: int,
    payer: Wallet | None = None, quotes: list | None = None, jito: JitoRotation | None = None,
    tip_lamports: int = 0, pool_state: tuple | None = None,
) -> TxSpec:  # fmt: skip
    """`pool_state`: (adapter, state) read once for trades built together; otherwise each
    attempt reads the pool's state when it builds."""
    campaign = run.campaign
    pool, mint = campaign.pool, campaign.token.mint
    owner = Pubkey.from_string(maker.address)
    dex_side = DexSide.BUY if side == Side.BUY else DexSide.SELL

    async def instructions(rpc) -> list:
        adapter, state = pool_state or await pool_read(
            rpc, pool_dex=pool.dex, pool_address=pool.address, mint=mint
        )
        quote = adapter.quote(state=state, side=dex_side, amount_in=amount)
        if quotes is not None:
            quotes.append(quote)
        build = adapter.build_buy if dex_side == DexSide.BUY else adapter.build_sell
        return build(state=state, owner=owner, quote=quote, slippage_bps=params.slippage_bps)

    return TxSpec(
        payer=payer or maker, signers=[maker], wallet=maker,
        side=Execution.Side.BUY if side == Side.BUY else Execution.Side.SELL,
        instructions=instructions, fee_policy=fee_policy(params),
        planned={"sol_in_lamports": amount} if side == Side.BUY else {"token_in_raw": amount},
        jito=jito, tip_lamports=tip_lamports,
    )  # fmt: skip


def jito_client(*, network: str, region: str | None) -> JitoRotation:
    """The block engines of a campaign: those configured for its region (JITO_ENGINES; the
    localnet serves its own on its RPC URL), in rotation, each within its budget. One
    rotation per process and set of engines, so consecutive bundles spread over them."""
    region = "localnet" if network == "localnet" else region or "mainnet"
    mine = tuple(engine for engine in jito_engines() if engine.region == region)
    budget = jito_budget()
    localnet_url = settings.SOLANA_RPC_URLS["localnet"][0]
    return _rotation(mine or (JitoEngine(name=region, region=region),), budget, localnet_url)


@functools.lru_cache(maxsize=64)
def _rotation(engines: tuple[JitoEngine, ...], budget, localnet_url: str) -> JitoRotation:
    urls = {**JITO_REGIONS, "localnet": localnet_url}
    return JitoRotation(
        clients=[
            JitoClient(
                base_url=urls[engine.region], auth_uuid=engine.auth_uuid, budget=budget,
                budget_endpoint=engine.name,
            )
            for engine in engines
        ]
    )  # fmt: skip


def tip_for(*, params: Params, job_id: int) -> int:
    """A Jito tip within the campaign's range, the same for every attempt of a job."""
    low, high = params.jito_tip_min_lamports or 0, params.jito_tip_max_lamports or 0
    return random.Random(job_id).randint(low, high) if high else 0


def trade_amount(job: Job, *, params: Params, side: str, held: int) -> int:
    """What a new trade spends: a buy its planned lamports within what the maker `held` (its
    ledger lamports), a sell every token the maker `held`. Zero or less: nothing to trade."""
    if side == Side.BUY:
        return domain.buy_amount(
            planned=int(job.payload["lamports"]), available=held,
            minimum=params.trade_size_min_lamports,
        )  # fmt: skip
    return held


def trade_skipped(side: str) -> Done:
    reason = (
        "nothing to sell" if side == Side.SELL else "the maker's balance is below the minimum trade"
    )
    return Done(result={"skipped": reason})


def trade_done(execution: Execution, *, run: CampaignRun, maker: Wallet, side: str) -> Done:
    """A trade's landed transaction → the job's result, ledger rows, run totals and event
    (raises JobFailed when it landed with an error)."""
    if execution.status != Execution.Status.LANDED:
        raise landed_failed(execution, payer=maker)
    mint = run.campaign.token.mint
    balances = execution.balances
    swap_lamports = (
        balances.lamports_delta(maker.address)
        + balances.fee
        + balances.tip
        + balances.token_accounts_lamports_delta(owner=maker.address)
    )
    tokens = balances.token_delta(owner=maker.address, mint=mint)
    if side == Side.BUY:
        sol_in, sol_out, token_in, token_out = -swap_lamports, 0, 0, tokens
    else:
        sol_in, sol_out, token_in, token_out = 0, swap_lamports, -tokens, 0
    ledger, _ = ledger_rows(
        execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE, wallets=[maker],
        mint=mint,
    )  # fmt: skip
    trade = TradeWrite(
        execution=execution,
        ledger=ledger,
        amounts={"sol_in_lamports": sol_in, "sol_out_lamports": sol_out, "token_in_raw": token_in,
                 "token_out_raw": token_out, "tip_lamports": balances.tip},
        totals={"trades_total": 1, "trades_succeeded": 1, "volume_lamports": abs(swap_lamports),
                "fees_lamports": balances.fee, "tips_lamports": balances.tip},
    )  # fmt: skip

    return Done(
        result={"signature": execution.signature, "sol_lamports": abs(swap_lamports),
                "token_raw": abs(tokens)},
        write=lambda: trade_writes([trade]),
        trade=trade,
        event={"side": side, "signature": execution.signature, "sol_lamports": abs(swap_lamports),
               "token_raw": abs(tokens), "fee_lamports": balances.fee, "tip_lamports": balances.tip,
               "wallet": maker.address},
    )  # fmt: skip


def batchable(params: Params) -> bool:
    """Trades of a live run go out together: a legacy run's in batches, a Jito run's in
    bundles (`steps.bundle_send`); a dry run's one by one."""
    return params.mode != DRY_RUN


def slicing(params: Params) -> dict[str, int]:
    """How a window's trades are sliced (`jobs.trade_slices`): a Jito run's into bundles of
    up to BUNDLE_TRADES, each its own task, its trades waiting a little longer to share a
    bundle's tip (EXECUTION_JITO_BUNDLE_SPREAD_MS)."""
    if params.execution_mode == JITO:
        return {"spread_ms": settings.EXECUTION_JITO_BUNDLE_SPREAD_MS, "max_size": BUNDLE_TRADES}
    return {
        "spread_ms": settings.EXECUTION_BATCH_SPREAD_MS,
        "max_size": settings.EXECUTION_BATCH_MAX,
    }
