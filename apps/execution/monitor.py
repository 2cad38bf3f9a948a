"""The engine's beat jobs: `runs_status_tick` (every few seconds: `stats` for every live run,
the funding wallets' balance check, stuck jobs re-sent) and `runs_reconcile` (the ledger
against the chain for every running run; a mismatch pauses the run and raises an alert).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from apps.admin_ops.alerts import alert_raise
from apps.admin_ops.models import Alert
from apps.campaigns.domain import Params, setup_fees
from apps.campaigns.models import CampaignRun, RunStatus
from apps.campaigns.transitions import campaign_pause
from apps.chain import spl
from apps.chain.rpc import run_sync
from apps.core.amounts import format_sol_trimmed
from apps.core.chain import ChainUnavailable, chain_run, rpc_pool
from apps.core.locking import JOB_LOCK, advisory_lock
from apps.core.services import audit_log
from apps.core.sql import table_name
from apps.execution.jobs import job_enqueue
from apps.execution.lifecycle import summary_update
from apps.execution.models import Job
from apps.execution.realtime import run_stats_publish
from apps.execution.selectors import ledger_lamports, ledger_tokens, run_makers, runs_stats

logger = logging.getLogger(__name__)


def jobs_redrive_stuck(*, older_than_s: float = 30.0) -> int:
    """Re-send the task of live jobs nobody is working on: queued past their time (a lost
    message) or processing with no worker holding their lock (a dead worker). Safe to repeat:
    a job runs only under its lock and resolves earlier transactions first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stale = Job.objects.filter(
        Q(status=Job.Status.QUEUED) & (Q(scheduled_for__isnull=True) | Q(scheduled_for__lt=cutoff))
        | Q(status=Job.Status.PROCESSING),
        updated_at__lt=cutoff,
    ).only("pk", "queue", "type", "scheduled_for")
    redriven = []
    for job in stale[:500]:
        # Probing the job lock tells a dead worker's job from one a live worker holds.
        with advisory_lock(JOB_LOCK, job.pk) as free:
            if not free:
                continue  # a worker holds it: not stuck
        with transaction.atomic():
            job.scheduled_for = None
            job_enqueue(job=job, countdown_s=0)
        redriven.append(job.pk)
    # Touched: a job re-sent is not re-sent again before `older_than_s` (a queue that is only
    # long, as with 1,000 runs starting, would otherwise get up to 500 duplicate messages a
    # tick, each one more task for the workers that are behind already).
    Job.objects.filter(pk__in=redriven).update(updated_at=timezone.now())
    return len(redriven)


def runs_status_tick() -> dict:
    """Beat, every few seconds: publish `stats` for every live run (and keep it in the run's
    summary), check the running runs' funding wallets, then re-send the tasks of stuck jobs.
    With 1,000 live runs: two queries for the stats, one statement per STATS_WRITE_ROWS runs
    for the summaries, one balance request per 100 funding wallets."""
    live = list(
        CampaignRun.objects.filter(
            status__in=[RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
        ).values_list("pk", "campaign_id", "campaign__owner_id")
    )
    stats = runs_stats(run_ids=[run_id for run_id, _, _ in live])
    stats_at = timezone.now().isoformat()
    with transaction.atomic():
        _summaries_merge({run_id: {"stats_at": stats_at, "jobs": stats[run_id]["jobs"]}
                          for run_id, _, _ in live})  # fmt: skip
        for run_id, campaign_id, owner_id in live:
            run_stats_publish(campaign_id=campaign_id, owner_id=owner_id, stats=stats[run_id])
    _funding_balances_check(
        CampaignRun.objects.filter(status=RunStatus.RUNNING).select_related(
            "campaign__funding_wallet", "campaign__owner"
        )
    )
    return {"runs": len(live), "redriven": jobs_redrive_stuck()}


STATS_WRITE_ROWS = 500


def _summaries_merge(patches: dict[int, dict]) -> None:
    """Merge each run's patch into its summary in the database (`||`: no read-modify-write,
    so no row lock held between two statements), STATS_WRITE_ROWS runs a statement, in id
    order (two ticks lock the rows in the same order)."""
    table = table_name(CampaignRun)
    items = sorted(patches.items())
    for start in range(0, len(items), STATS_WRITE_ROWS):
        chunk = items[start : start + STATS_WRITE_ROWS]
        values = ", ".join(["(%s, %s::jsonb)"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS run SET summary = run.summary || patch.value, "  # noqa: S608
                f"updated_at = now() FROM (VALUES {values}) AS patch(id, value) "
                "WHERE run.id = patch.id",
                [arg for run_id, patch in chunk for arg in (run_id, json.dumps(patch))],
            )


def _funding_balances_check(runs) -> None:
    """Alert the owner (and operators) when a funding wallet can no longer pay the gather's
    fees: the makers could not all be swept back. The balances are read from the chain
    together, per network."""
    by_network: dict[str, list[CampaignRun]] = {}
    for run in runs:
        by_network.setdefault(run.campaign.network, []).append(run)
    for network, network_runs in by_network.items():
        addresses = [run.campaign.funding_wallet.address for run in network_runs]
        try:
            held = _lamports(network=network, addresses=addresses)
        except ChainUnavailable:
            continue  # the next tick reads them again
        for run in network_runs:
            _funding_balance_alert(run, held[run.campaign.funding_wallet.address])


def _funding_balance_alert(run: CampaignRun, held: int) -> None:
    campaign = run.campaign
    needed = setup_fees(Params.from_json(campaign.params))[1]
    if held < needed:
        alert_raise(
            kind=Alert.Kind.LOW_BALANCE, user=campaign.owner, campaign=campaign,
            message=f"The funding wallet holds {format_sol_trimmed(held)} SOL; sweeping the makers "
            f"back needs {format_sol_trimmed(needed)} SOL of fees. Top it up.",
        )  # fmt: skip


# getMultipleAccounts takes at most 100 addresses.
MULTIPLE_ACCOUNTS_MAX = 100


def _lamports(*, network: str, addresses: list[str]) -> dict[str, int]:
    """address → lamports read from the chain, 100 addresses a request."""

    async def read(rpc) -> dict[str, int]:
        out = {}
        for start in range(0, len(addresses), MULTIPLE_ACCOUNTS_MAX):
            part = addresses[start : start + MULTIPLE_ACCOUNTS_MAX]
            keys = [Pubkey.from_string(a) for a in part]
            accounts = (
                await rpc.call("getMultipleAccounts", lambda c, k=keys: c.get_multiple_accounts(k))
            ).value
            for address, account in zip(part, accounts, strict=True):
                out[address] = account.lamports if account is not None else 0
        return out

    return chain_run(network, read)


def _chain_holdings(*, network: str, addresses: list[str], mint: str) -> dict[str, tuple]:
    """address → (lamports, raw tokens of `mint`) read from the chain."""

    async def read(rpc) -> dict[str, tuple]:
        keys = [Pubkey.from_string(a) for a in addresses]
        accounts = (
            await rpc.call("getMultipleAccounts", lambda c: c.get_multiple_accounts(keys))
        ).value
        out = {}
        for address, key, account in zip(addresses, keys, accounts, strict=True):
            tokens = await rpc.call(
                "getTokenAccountsByOwner",
                # By mint: the token's accounts under SPL Token or Token-2022.
                lambda c, key=key: c.get_token_accounts_by_owner(
                    key, TokenAccountOpts(mint=Pubkey.from_string(mint))
                ),
            )
            raw = sum(
                state.amount
                for keyed in tokens.value
                if str((state := spl.decode_token_account(bytes(keyed.account.data))).mint) == mint
            )
            out[address] = (account.lamports if account is not None else 0, raw)
        return out

    return run_sync(read(rpc_pool(network)))


def run_reconcile(*, run_id: int) -> list[dict]:
    """Compare every maker wallet's ledger balance (lamports and tokens) with the chain; a
    mismatch pauses the run (safety mode) with the difference recorded and audited. Wallets
    with a job in progress are skipped: their ledger rows are being written right now."""
    run = CampaignRun.objects.select_related("campaign__token").get(pk=run_id)
    mint = run.campaign.token.mint
    makers = run_makers(run)
    busy = set()
    # A trade or sell job names its maker in the payload, a sweep batch its makers.
    for job in Job.objects.filter(run=run, status__in=Job.LIVE).only("payload"):
        if "wallet_id" in job.payload:
            busy.add(int(job.payload["wallet_id"]))
        busy.update(int(pk) for pk in job.payload.get("wallet_ids", ()))
    makers = [m for m in makers if m.pk not in busy]
    if not makers:
        return []
    chain = _chain_holdings(
        network=run.campaign.network, addresses=[m.address for m in makers], mint=mint
    )
    mismatches = []
    for maker in makers:
        ledger = (
            ledger_lamports(run_id=run.pk, wallet_id=maker.pk),
            ledger_tokens(run_id=run.pk, wallet_id=maker.pk, mint=mint),
        )
        if ledger != chain[maker.address]:
            mismatches.append(
                {"wallet": maker.address, "ledger": list(ledger),
                 "chain": list(chain[maker.address])}
            )  # fmt: skip
    if mismatches:
        reason = f"Safety mode: the ledger differs from the chain for {len(mismatches)} wallet(s)."
        with transaction.atomic():
            summary_update(run.pk, reconcile_mismatches=mismatches)
            audit_log(
                actor=None, action="run.reconcile_mismatch", entity="run", entity_id=run.pk,
                metadata={"mismatches": mismatches},
            )  # fmt: skip
            alert_raise(
                kind=Alert.Kind.RECONCILE_MISMATCH, user=run.campaign.owner,
                campaign=run.campaign, message=reason,
            )  # fmt: skip
        logger.error("reconcile mismatch", extra={"run_id": run.pk, "mismatches": mismatches})
        if run.status == RunStatus.RUNNING:
            campaign_pause(campaign_id=run.campaign_id, actor=None, reason=reason)
    return mismatches


def runs_reconcile() -> dict:
    """Beat: reconcile every running run."""
    paused = 0
    for run_id in CampaignRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", flat=True):
        if run_reconcile(run_id=run_id):
            paused += 1
    return {"paused": paused}
