"""The engine's beat jobs: `runs_status_tick` (every few seconds: `stats` for every live run,
the funding wallets' balance check, stuck jobs re-sent) and `runs_reconcile` (the ledger
against the chain for every running run; a mismatch pauses the run and raises an alert).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from apps.admin_ops.alerts import alert_raise
from apps.admin_ops.models import Alert
from apps.campaigns.domain import Params, setup_fees
from apps.campaigns.models import CampaignRun, RunStatus
from apps.campaigns.selectors import wallet_lamports
from apps.campaigns.transitions import campaign_pause
from apps.chain import spl
from apps.chain.rpc import run_sync
from apps.core.amounts import format_sol_trimmed
from apps.core.chain import ChainUnavailable, rpc_pool
from apps.core.locking import JOB_LOCK, advisory_lock
from apps.core.services import audit_log
from apps.execution.jobs import job_enqueue
from apps.execution.lifecycle import summary_update
from apps.execution.models import Job
from apps.execution.realtime import run_stats_publish
from apps.execution.selectors import ledger_lamports, ledger_tokens, run_makers, run_stats

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
    count = 0
    for job in stale[:500]:
        # Probing the job lock tells a dead worker's job from one a live worker holds.
        with advisory_lock(JOB_LOCK, job.pk) as free:
            if not free:
                continue  # a worker holds it: not stuck
        with transaction.atomic():
            job.scheduled_for = None
            job_enqueue(job=job, countdown_s=0)
        count += 1
    return count


def runs_status_tick() -> dict:
    """Beat, every few seconds: publish `stats` for every live run (and keep it in the run's
    summary), then re-send the tasks of stuck jobs."""
    live = CampaignRun.objects.filter(
        status__in=[RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING]
    ).values_list("pk", "campaign_id", "campaign__owner_id")
    for run_id, campaign_id, owner_id in live:
        stats = run_stats(run_id=run_id)
        with transaction.atomic():
            summary_update(run_id, stats_at=timezone.now().isoformat(), jobs=stats["jobs"])
            run_stats_publish(campaign_id=campaign_id, owner_id=owner_id, stats=stats)
    for run in CampaignRun.objects.filter(status=RunStatus.RUNNING).select_related(
        "campaign__funding_wallet", "campaign__owner"
    ):
        _funding_balance_check(run)
    return {"runs": len(live), "redriven": jobs_redrive_stuck()}


def _funding_balance_check(run: CampaignRun) -> None:
    """Alert the owner (and operators) when the funding wallet can no longer pay the gather's
    fees: the makers could not all be swept back."""
    campaign = run.campaign
    needed = setup_fees(Params.from_json(campaign.params))[1]
    try:
        held = wallet_lamports(wallet=campaign.funding_wallet, network=campaign.network)
    except ChainUnavailable:
        return  # the next tick reads it again
    if held < needed:
        alert_raise(
            kind=Alert.Kind.LOW_BALANCE, user=campaign.owner, campaign=campaign,
            message=f"The funding wallet holds {format_sol_trimmed(held)} SOL; sweeping the makers "
            f"back needs {format_sol_trimmed(needed)} SOL of fees. Top it up.",
        )  # fmt: skip


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
