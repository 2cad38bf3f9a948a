"""The engine's reads: balances by the ledger, a run's makers, traded volume, run stats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, Sum

from apps.campaigns.models import CampaignRun
from apps.execution.models import Execution, Job, LedgerEntry
from apps.wallets.models import Wallet


def run_makers(run: CampaignRun) -> list[Wallet]:
    return list(Wallet.objects.filter(run_id=run.pk, kind=Wallet.Kind.MAKER).order_by("id"))


def ledger_lamports(*, run_id: int, wallet_id: int) -> int:
    total = LedgerEntry.objects.filter(run_id=run_id, wallet_id=wallet_id).aggregate(
        total=Sum("lamports_delta")
    )["total"]
    return int(total or 0)


def ledger_tokens(*, run_id: int, wallet_id: int, mint: str) -> int:
    total = LedgerEntry.objects.filter(run_id=run_id, wallet_id=wallet_id, mint=mint).aggregate(
        total=Sum("token_delta_raw")
    )["total"]
    return int(total or 0)


def ledger_holdings(
    *, run_ids: Iterable[int], wallet_ids: Iterable[int]
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int, str], int]]:
    """`ledger_lamports` and `ledger_tokens` for many makers at once (one grouped query):
    {(run id, wallet id): lamports} and {(run id, wallet id, mint): raw tokens}."""
    totals = (
        LedgerEntry.objects.filter(run_id__in=set(run_ids), wallet_id__in=list(wallet_ids))
        .values("run_id", "wallet_id", "mint")
        .annotate(lamports=Sum("lamports_delta"), tokens=Sum("token_delta_raw"))
    )
    lamports: dict[tuple[int, int], int] = {}
    tokens: dict[tuple[int, int, str], int] = {}
    for row in totals:
        key = (row["run_id"], row["wallet_id"])
        lamports[key] = lamports.get(key, 0) + int(row["lamports"] or 0)
        tokens[(*key, row["mint"])] = int(row["tokens"] or 0)
    return lamports, tokens


def volume_since(run_id: int, since: datetime) -> int:
    """SOL traded by a run since `since` (landed, or simulated in a dry run)."""
    totals = Execution.objects.filter(
        run_id=run_id, side__in=[Execution.Side.BUY, Execution.Side.SELL],
        status__in=[Execution.Status.LANDED, Execution.Status.SIMULATED], created_at__gte=since,
    ).aggregate(sol_in=Sum("sol_in_lamports"), sol_out=Sum("sol_out_lamports"))  # fmt: skip
    return int((totals["sol_in"] or 0) + (totals["sol_out"] or 0))


def simulated_tokens(*, run_id: int, wallet_id: int) -> int:
    """What a maker would hold in a dry run: tokens of its simulated buys less its sells."""
    rows = Execution.objects.filter(
        run_id=run_id, wallet_id=wallet_id, status=Execution.Status.SIMULATED
    ).aggregate(bought=Sum("token_out_raw"), sold=Sum("token_in_raw"))
    return int((rows["bought"] or 0) - (rows["sold"] or 0))


def run_stats(*, run_id: int) -> dict:
    """The run's counters and job counts by status (what the `stats` event carries)."""
    return runs_stats(run_ids=[run_id])[run_id]


def runs_stats(*, run_ids: Iterable[int]) -> dict[int, dict]:
    """`run_stats` of many runs in two queries (the status tick reads every live run's)."""
    ids = list(run_ids)
    jobs: dict[int, dict[str, int]] = {run_id: {} for run_id in ids}
    for run_id, status, count in (
        Job.objects.filter(run_id__in=ids).values_list("run_id", "status").annotate(n=Count("id"))
    ):
        jobs[run_id][status] = count
    runs = CampaignRun.objects.filter(pk__in=ids).defer("summary")
    return {run.pk: _stats(run, jobs[run.pk]) for run in runs}


def _stats(run: CampaignRun, jobs: dict[str, int]) -> dict:
    return {
        "run_id": run.pk, "status": run.status, "volume_lamports": run.volume_lamports,
        "trades_total": run.trades_total, "trades_succeeded": run.trades_succeeded,
        "trades_failed": run.trades_failed, "fees_lamports": run.fees_lamports,
        "tips_lamports": run.tips_lamports, "funded_lamports": run.funded_lamports,
        "gathered_lamports": run.gathered_lamports, "success_rate_bps": run.success_rate_bps,
        "jobs": jobs,
    }  # fmt: skip
