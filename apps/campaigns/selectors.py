"""Campaign reads: owner-scoped lookups, warnings, live status, estimate inputs, logs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncMinute
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.accounts.models import User
from apps.campaigns.domain import BPS, GuardrailWarning, Limits, Params, guardrail_check
from apps.campaigns.estimate import TRADE_COMPUTE_UNITS, Estimate, estimate
from apps.campaigns.models import CAMPAIGN_LIVE, RUN_LIVE, Campaign, CampaignRun
from apps.campaigns.params import params_from_input, params_to_input, validation_failed
from apps.campaigns.plan_replay import DEFAULT_TRADE_COMPUTE_UNITS, PoolReserves
from apps.chain.dex import pumpfun as pf
from apps.chain.dex.pumpswap import PumpSwap
from apps.chain.dex.raydium_amm_v4 import RaydiumAmmV4
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.errors import DexError
from apps.core.amounts import LAMPORTS_PER_SOL
from apps.core.chain import ChainUnavailable, chain_run
from apps.core.errors import Conflict, DomainError, NotFound
from apps.core.pagination import keyset_page
from apps.core.prices import PoolPrice, price_history
from apps.execution.domain import plan_config
from apps.execution.models import Execution, Job
from apps.tokens.models import Dex, Pool
from apps.wallets import balances as chain_balances
from apps.wallets.models import Wallet


def campaign_limits(*, owner: User | None = None) -> Limits:
    """The platform limits, read from settings at call time (tests and operators change them);
    with an `owner`, the limits an admin set for that user in place of the platform's."""
    max_makers, note = settings.CAMPAIGN_MAX_MAKERS, "platform limit"
    if owner is not None and owner.max_makers is not None:
        max_makers, note = owner.max_makers, "the limit an administrator set for your account"
    return Limits(
        max_slippage_bps=settings.CAMPAIGN_MAX_SLIPPAGE_BPS,
        warn_slippage_bps=settings.CAMPAIGN_WARN_SLIPPAGE_BPS,
        min_trade_lamports=settings.CAMPAIGN_MIN_TRADE_LAMPORTS,
        max_trade_lamports=settings.CAMPAIGN_MAX_TRADE_LAMPORTS,
        min_makers=settings.CAMPAIGN_MIN_MAKERS,
        max_makers=max_makers,
        user_daily_volume_cap_lamports=settings.CAMPAIGN_USER_DAILY_VOLUME_CAP_LAMPORTS,
        max_makers_note=note,
    )


def campaign_list(*, owner: User, status: str | None = None) -> QuerySet[Campaign]:
    # The owner too: a campaign's warnings are checked against the limits set for its owner.
    campaigns = Campaign.objects.filter(owner=owner).select_related(
        "owner", "token", "pool", "funding_wallet"
    )
    if status:
        campaigns = campaigns.filter(status=status)
    return campaigns.order_by("-created_at", "-id")


def campaign_live(*, campaign_id: int) -> Campaign | None:
    """A campaign whatever its owner, for the live partials its owner's sockets share (each
    socket checked ownership when it connected); None when it is gone."""
    campaigns = Campaign.objects.select_related("owner", "token", "pool", "funding_wallet")
    return campaigns.filter(pk=campaign_id).first()


def campaign_get(*, owner: User, campaign_id: int) -> Campaign:
    """The owner's campaign; another user's is NotFound, exactly like a missing one."""
    campaign = campaign_list(owner=owner).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def campaign_warnings(*, campaign: Campaign) -> list[GuardrailWarning]:
    """Guardrail warnings of the stored params under today's platform limits."""
    params = Params.from_json(campaign.params)
    _, warnings = guardrail_check(params=params, limits=campaign_limits(owner=campaign.owner))
    return warnings


def run_latest(*, campaign: Campaign) -> CampaignRun | None:
    return campaign.runs.order_by("-started_at", "-id").first()


def campaign_status(*, campaign: Campaign) -> dict:
    """The live summary the status endpoint and the dashboard show: the campaign's state, its
    latest run's counters and progress towards target and budget, and job counts by state.
    While the run is live the job counts are those the engine's status tick keeps in the run's
    summary (`summary.stats_at` says when): counting a busy run's jobs for every poll of every
    client is the one expensive part of this read. A finished run's are counted (exact)."""
    params = Params.from_json(campaign.params)
    run = run_latest(campaign=campaign)
    body: dict = {
        "campaign_id": campaign.pk,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "target_volume_lamports": params.target_volume_lamports,
        "budget_cap_lamports": params.budget_cap_lamports,
        "run": None,
        "jobs": {},
    }
    if run is None:
        return body
    spent = run.spent_lamports
    body["run"] = {
        "id": run.pk,
        "status": run.status,
        "status_reason": run.status_reason,
        "seed": run.seed,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "ends_at": run.ends_at,
        "volume_lamports": run.volume_lamports,
        "trades_total": run.trades_total,
        "trades_succeeded": run.trades_succeeded,
        "trades_failed": run.trades_failed,
        "success_rate_bps": run.success_rate_bps,
        "fees_lamports": run.fees_lamports,
        "tips_lamports": run.tips_lamports,
        "price_impact_lamports": run.price_impact_lamports,
        "spent_lamports": spent,
        "funded_lamports": run.funded_lamports,
        "gathered_lamports": run.gathered_lamports,
        "volume_progress_bps": _progress(run.volume_lamports, params.target_volume_lamports),
        "budget_used_bps": _progress(spent, params.budget_cap_lamports),
        # What 1 SOL of volume really cost (the ledger's totals), rounded up like the estimate.
        "cost_per_sol_volume_lamports": -(-spent * LAMPORTS_PER_SOL // run.volume_lamports)
        if run.volume_lamports
        else None,
        "summary": run.summary,
    }
    if run.status in RUN_LIVE and "jobs" in run.summary:
        body["jobs"] = dict(run.summary["jobs"])
        return body
    counts = Job.objects.filter(run=run).values("status").annotate(n=Count("id"))
    body["jobs"] = {row["status"]: row["n"] for row in counts}
    return body


def _progress(value: int, goal: int | None) -> int | None:
    return None if not goal else min(value * BPS // goal, BPS)


def user_volume_since_lamports(*, owner: User, since: datetime) -> int:
    """SOL volume of the owner's landed trades since `since` (both legs: SOL paid on buys,
    SOL received on sells)."""
    total = Execution.objects.filter(
        campaign__owner=owner,
        status=Execution.Status.LANDED,
        side__in=[Execution.Side.BUY, Execution.Side.SELL],
        created_at__gte=since,
    ).aggregate(volume=Sum(F("sol_in_lamports") + F("sol_out_lamports")))["volume"]
    return total or 0


def utc_day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def wallet_lamports(*, wallet: Wallet, network: str) -> int:
    """The wallet's SOL balance read from chain now (uncached: it decides whether money may
    move). An unreachable chain is a ChainUnavailable (503), never a guess."""
    try:
        return chain_balances.reader_for_network(network).get_balance(wallet.address)
    except chain_balances.BalanceUnavailable as error:
        raise ChainUnavailable(str(error)) from error


def pool_reserves(*, pool: Pool) -> PoolReserves:
    """The pool's pricing reserves and fee read from chain now, for the estimate: Raydium's
    vault reserves and swap fee (CPMM: trade plus creator fee); a pump.fun curve's virtual
    reserves and its tiered protocol and creator fee; a PumpSwap pool's vault reserves and its
    tiered fees. A pool that is gone or no longer trades (e.g. a migrated curve) is a Conflict
    that says so."""
    address = Pubkey.from_string(pool.address)
    units = TRADE_COMPUTE_UNITS.get(pool.dex, DEFAULT_TRADE_COMPUTE_UNITS)
    try:
        if pool.dex == Dex.RAYDIUM_AMM_V4:
            state = chain_run(
                pool.network, lambda rpc: RaydiumAmmV4().load_state(rpc=rpc, address=address)
            )
            sol, tokens = (
                (state.coin_reserve, state.pc_reserve)
                if state.sol_is_coin
                else (state.pc_reserve, state.coin_reserve)
            )
            fee_bps = state.amm.swap_fee_numerator * BPS // state.amm.swap_fee_denominator
            return PoolReserves(sol_reserve_lamports=sol, token_reserve_raw=tokens,
                                fee_bps=fee_bps, trade_compute_units=units)  # fmt: skip
        if pool.dex == Dex.RAYDIUM_CPMM:
            state = chain_run(
                pool.network, lambda rpc: RaydiumCpmm().load_state(rpc=rpc, address=address)
            )
            return PoolReserves(
                sol_reserve_lamports=state.sol_reserve,
                token_reserve_raw=state.token_reserve,
                fee_bps=state.fee_bps,
                trade_compute_units=units,
            )
        if pool.dex == Dex.PUMPFUN:
            mint = Pubkey.from_string(pool.token.mint)
            state = chain_run(
                pool.network,
                lambda rpc: pf.PumpFun().load_state(rpc=rpc, address=address, mint=mint),
            )
            fees = state.fees
            return PoolReserves(
                sol_reserve_lamports=state.curve.virtual_quote_reserves,
                token_reserve_raw=state.curve.virtual_token_reserves,
                fee_bps=fees.protocol_fee_bps + fees.creator_fee_bps,
                fee_on_sol=True,
                trade_compute_units=units,
            )
        if pool.dex == Dex.PUMPSWAP:
            state = chain_run(
                pool.network, lambda rpc: PumpSwap().load_state(rpc=rpc, address=address)
            )
            return PoolReserves(
                sol_reserve_lamports=state.quote_reserve,
                token_reserve_raw=state.base_reserve,
                fee_bps=state.fees.total_bps,
                fee_on_sol=True,
                trade_compute_units=units,
            )
    except DexError as error:
        raise Conflict(f"The pool cannot be priced: {error}.", code="pool_unavailable") from error
    raise DomainError(f"Estimates are not available for {pool.get_dex_display()} pools yet.")


def params_check(*, params: object, owner: User) -> tuple[dict, list[GuardrailWarning]]:
    """Validate API-shaped params against the schema and today's limits of `owner` without
    saving anything: (canonical params, warnings), or ValidationFailed with every refusal.
    For the wizard's as-you-type checks and for estimates of unsaved changes."""
    canonical = params_from_input(params)
    refusals, warnings = guardrail_check(
        params=Params.from_json(canonical), limits=campaign_limits(owner=owner)
    )
    if refusals:
        raise validation_failed(refusals)
    return canonical, warnings


def campaign_estimate(
    *, campaign: Campaign, params_patch: dict | None = None, now: datetime | None = None
) -> tuple[Estimate, PoolReserves]:
    """The cost estimate of the campaign's params (with `params_patch` merged in, unsaved) on
    its pool as it is on chain now, its warnings preceded by the guardrail warnings; also
    returns the reserves it used."""
    merged = {**params_to_input(campaign.params), **(params_patch or {})}
    params, warnings = params_check(params=merged, owner=campaign.owner)
    window = None
    if campaign.end_at is not None:
        begin = campaign.start_at or now or timezone.now()
        window = max(int((campaign.end_at - begin).total_seconds()), 0)
    reserves = pool_reserves(pool=campaign.pool)
    typed = Params.from_json(params)
    # The run's own plan: its seed, and its target as the volume cap (`lifecycle.plan_config`).
    plan = plan_config(
        params=typed, seed=typed.seed, busy_ms=settings.EXECUTION_BUSY_MS,
        volume_cap_lamports=typed.target_volume_lamports,
        min_last_lamports=settings.CAMPAIGN_MIN_TRADE_LAMPORTS,
    )  # fmt: skip
    result = estimate(params=typed, pool=reserves, plan=plan, window_seconds=window)
    return replace(result, warnings=[*warnings, *result.warnings]), reserves


# ---------------------------------------------------------------------------------------------
# Logs


@dataclass(frozen=True)
class LogFilters:
    status: str | None = None
    side: str | None = None
    wallet: str | None = None  # address
    since: datetime | None = None
    until: datetime | None = None


def executions_filtered(*, campaign: Campaign, filters: LogFilters) -> QuerySet[Execution]:
    """The campaign's executions (every run), newest first, filtered (the logs page through it
    with a cursor on (created_at, id): stable while new trades land)."""
    rows = Execution.objects.filter(campaign=campaign).select_related("wallet", "job")
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.side:
        rows = rows.filter(side=filters.side)
    if filters.wallet:
        rows = rows.filter(wallet__address=filters.wallet)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    return rows.order_by("-created_at", "-id")


EXPORT_BATCH = 1000


def executions_export(*, campaign: Campaign, filters: LogFilters) -> Iterator[list[Execution]]:
    """Every matching execution, newest first, in keyset pages of EXPORT_BATCH rows read as the
    response streams (one serializer per page, not per row). Not a server-side cursor: outside
    a transaction Django declares it WITH HOLD, and Postgres then computes the whole result
    before the first row is sent."""
    rows = executions_filtered(campaign=campaign, filters=filters)
    cursor = None
    while True:
        page = keyset_page(rows, cursor=cursor, limit=EXPORT_BATCH)
        yield page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# ---------------------------------------------------------------------------------------------
# Pages: dashboard, trade feed, charts

TRADE_FEED_SIZE = 20
TRADE_SIDES = (Execution.Side.BUY, Execution.Side.SELL)


def trade_feed(*, campaign: Campaign, limit: int = TRADE_FEED_SIZE) -> list[Execution]:
    """The latest run's trades (every state: a failed one shows too), newest first."""
    run = run_latest(campaign=campaign)
    if run is None:
        return []
    rows = Execution.objects.filter(run=run, side__in=TRADE_SIDES).select_related("wallet")
    return list(rows.order_by("-created_at", "-id")[:limit])


def price_points(*, campaign: Campaign) -> tuple[list[PoolPrice], list[tuple[float, str]]]:
    """The pool's live prices since the latest run started, and that run's landed trades
    ((unix time, side)) in the same span: what the price chart shows."""
    run = run_latest(campaign=campaign)
    if run is None:
        return [], []
    pool = campaign.pool
    prices = price_history(network=pool.network, address=pool.address,
                           since=run.started_at.timestamp())  # fmt: skip
    if not prices:
        return [], []
    landed = Execution.objects.filter(
        run=run, side__in=TRADE_SIDES, status=Execution.Status.LANDED
    ).order_by("-created_at")[:TRADE_FEED_SIZE]
    return prices, [(e.created_at.timestamp(), e.side) for e in landed]


def trades_for_jobs(*, campaign: Campaign, job_ids: list[int]) -> dict[int, Execution]:
    """The execution each finished trade job stands for (its last attempt), if it is this
    campaign's, by job id: the live feed's new rows, one query for a batch of events."""
    rows = (
        Execution.objects.filter(job_id__in=job_ids, campaign=campaign, side__in=TRADE_SIDES)
        .select_related("wallet")
        .order_by("job_id", "-attempt")
        .distinct("job_id")
    )
    return {row.job_id: row for row in rows}


@dataclass(frozen=True)
class MinuteBucket:
    minute: datetime
    trades: int
    volume_lamports: int


def trade_minutes(*, campaign: Campaign, minutes: int = 60) -> list[MinuteBucket]:
    """The latest run's landed trades per minute (count and SOL volume), oldest first, over the
    `minutes` minutes up to its latest trade; minutes without trades are absent (the chart
    fills). The span is bounded in time, so the read is one range scan of the run's index
    however long the run has traded."""
    run = run_latest(campaign=campaign)
    if run is None:
        return []
    landed = Execution.objects.filter(run=run, side__in=TRADE_SIDES, status=Execution.Status.LANDED)
    latest = Subquery(landed.order_by("-created_at", "-id").values("created_at")[:1])
    since = ExpressionWrapper(
        TruncMinute(latest) - timedelta(minutes=minutes - 1), output_field=DateTimeField()
    )
    rows = (
        landed.filter(created_at__gte=since)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(n=Count("id"), volume=Sum(F("sol_in_lamports") + F("sol_out_lamports")))
        .order_by("-minute")[:minutes]
    )
    buckets = [MinuteBucket(row["minute"], row["n"], row["volume"] or 0) for row in rows]
    return buckets[::-1]


@dataclass(frozen=True)
class DashboardSummary:
    active_campaigns: int
    volume_24h_lamports: int
    trades_landed_24h: int
    trades_failed_24h: int
    spent_24h_lamports: int
    recent_runs: list[CampaignRun]

    @property
    def success_rate_bps(self) -> int | None:
        finished = self.trades_landed_24h + self.trades_failed_24h
        return None if finished == 0 else self.trades_landed_24h * BPS // finished


def dashboard_summary(*, owner: User, now: datetime | None = None) -> DashboardSummary:
    """The owner's last 24 hours: campaigns running (active or paused), SOL volume and success
    rate of trades, and what they cost (network fees and tips paid by those trades)."""
    since = (now or timezone.now()) - timedelta(hours=24)
    # By campaign: each of the owner's campaigns is one range scan of its logs index over the
    # last 24 hours, so the cost follows the day's trades, never the whole history.
    trades = Execution.objects.filter(
        campaign__owner=owner, side__in=TRADE_SIDES, created_at__gte=since
    ).aggregate(
        landed=Count("id", filter=Q(status=Execution.Status.LANDED)),
        failed=Count(
            "id", filter=Q(status__in=[Execution.Status.FAILED, Execution.Status.EXPIRED])
        ),
        volume=Sum(
            F("sol_in_lamports") + F("sol_out_lamports"),
            filter=Q(status=Execution.Status.LANDED),
        ),
        spent=Sum(F("fee_lamports") + F("tip_lamports")),
    )
    recent = list(
        CampaignRun.objects.filter(campaign__owner=owner)
        .select_related("campaign")
        .order_by("-started_at", "-id")[:5]
    )
    return DashboardSummary(
        active_campaigns=Campaign.objects.filter(owner=owner, status__in=CAMPAIGN_LIVE).count(),
        volume_24h_lamports=trades["volume"] or 0,
        trades_landed_24h=trades["landed"],
        trades_failed_24h=trades["failed"],
        spent_24h_lamports=trades["spent"] or 0,
        recent_runs=recent,
    )
