"""The campaign state machine: every transition's write, and the transitions that need nothing
but the table (pause, finish, complete, fail).

Each transition is one atomic unit (STYLE rule 3): lock the campaign row, re-read and check its
state against the transition table (`domain.TRANSITIONS`), write the campaign and its run, write
the audit row, and publish `run_status_changed` on commit. Repeating a transition is a no-op;
a forbidden one raises Conflict (409) and changes nothing. Lock order: campaign row, then its
run row.

Nothing here calls the run engine: the engine calls these (to pause, stop, finish or complete
the run it works on), and `apps.campaigns.services` tells the engine about the moves users make
(start, stop, resume) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.accounts.models import User
from apps.campaigns import realtime
from apps.campaigns.domain import (
    RUN_STATUS_FOR,
    Action,
    Params,
    TransitionRefused,
    transition_target,
)
from apps.campaigns.models import RUN_LIVE, Campaign, CampaignRun, CampaignStatus, RunStatus
from apps.campaigns.status_cache import status_forget
from apps.chain.dex.pumpswap import PumpSwap
from apps.core import events
from apps.core.chain import chain_run
from apps.core.errors import Conflict, NotFound
from apps.core.models import SystemSwitch
from apps.core.selectors import switch_enabled
from apps.core.services import audit_log
from apps.tokens.models import Dex, Pool, PoolSelection


@dataclass(frozen=True)
class Moved:
    """A transition's outcome: the campaign, its live run (if any), and the state it moved to
    (None: it was there already, nothing was written)."""

    campaign: Campaign
    run: CampaignRun | None
    target: str | None


def _owned_in(campaigns, *, campaign_id: int, owner: User | None) -> Campaign:
    """The campaign from `campaigns` (the owner's, when given); NotFound otherwise."""
    if owner is not None:
        campaigns = campaigns.filter(owner=owner)
    campaign = campaigns.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    return campaign


def owned_campaign(*, campaign_id: int, owner: User | None) -> Campaign:
    """The campaign, unlocked: for checks before a transition."""
    campaigns = Campaign.objects.select_related("owner", "funding_wallet")
    return _owned_in(campaigns, campaign_id=campaign_id, owner=owner)


def locked_campaign(*, campaign_id: int, owner: User | None) -> Campaign:
    """The campaign under a row lock: for a transition."""
    return _owned_in(Campaign.objects.select_for_update(), campaign_id=campaign_id, owner=owner)


def refused(error: TransitionRefused) -> Conflict:
    return Conflict(error.message, code="invalid_transition")


def transition_apply(
    *,
    campaign: Campaign,
    target: str,
    action: Action,
    actor: User | None,
    reason: str,
    now: datetime,
    run: CampaignRun | None,
    ip: str | None,
) -> Campaign:
    """Write a checked move (the row is locked by the caller): campaign, run, audit, event."""
    source = campaign.status
    campaign.status, campaign.status_reason = target, reason[:280]
    campaign.save(update_fields=["status", "status_reason", "updated_at"])
    status_forget(campaign)
    if run is not None and target in RUN_STATUS_FOR:
        run.status, run.status_reason = RUN_STATUS_FOR[target], reason[:280]
        if run.status in (RunStatus.STOPPED, RunStatus.COMPLETED, RunStatus.FAILED):
            run.ended_at = now
        run.save(update_fields=["status", "status_reason", "ended_at", "updated_at"])
    audit_log(
        actor=actor, action=f"campaign.{action.value}", entity="campaign", entity_id=campaign.pk,
        metadata={"from": source, "to": target, "run_id": run.pk if run else None,
                  "reason": reason},
        ip=ip,
    )  # fmt: skip
    realtime.run_status_publish(campaign=campaign, run=run)
    if event_type := STATUS_EVENTS.get((action, target)) or STATUS_EVENTS.get((None, target)):
        events.emit(
            event_type=event_type, user_id=campaign.owner_id,
            data={"campaign_id": campaign.pk, "name": campaign.name, "status": target,
                  "run_id": run.pk if run else None, "reason": reason[:280],
                  "by": _by(actor, campaign)},
        )  # fmt: skip
    return campaign


# (action, target) → the subscribers' event; (None, target) whatever the action was.
STATUS_EVENTS = {
    (Action.START, CampaignStatus.ACTIVE): "campaign.started",
    (Action.RESUME, CampaignStatus.ACTIVE): "campaign.resumed",
    (None, CampaignStatus.PAUSED): "campaign.paused",
    (None, CampaignStatus.STOPPED): "campaign.stopped",
    (None, CampaignStatus.COMPLETED): "campaign.completed",
    (None, CampaignStatus.FAILED): "campaign.failed",
}


def _by(actor: User | None, campaign: Campaign) -> str:
    """Who made the move: the owner, an operator, or the engine/beat (no actor)."""
    if actor is None:
        return "engine"
    return "owner" if actor.pk == campaign.owner_id else "operator"


def campaign_transition(
    *,
    campaign_id: int,
    action: Action,
    actor: User | None,
    owner: User | None = None,
    reason: str = "",
    now: datetime | None = None,
    ip: str | None = None,
) -> Moved:
    """A transition that needs nothing but the table: lock, check, write, audit, publish.
    Returns what moved (`target` None: a no-op). The caller that must tell the engine (stop,
    resume: `apps.campaigns.services`) does so in the same transaction, around this call."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        try:
            target = transition_target(current=campaign.status, action=action)
        except TransitionRefused as error:
            raise refused(error) from None
        if target is None:
            return Moved(campaign=campaign, run=None, target=None)
        if action == Action.RESUME:
            refuse_if_paused_by_operator()
        run = live_run_locked(campaign)
        transition_apply(
            campaign=campaign, target=target, action=action, actor=actor, reason=reason,
            now=now, run=run, ip=ip,
        )  # fmt: skip
    return Moved(campaign=campaign, run=run, target=target)


def live_run_locked(campaign: Campaign) -> CampaignRun | None:
    # After the campaign row: the one lock order every transition uses.
    return (
        CampaignRun.objects.select_for_update()
        .filter(campaign=campaign, status__in=RUN_LIVE)
        .order_by("-started_at", "-id")
        .first()
    )


def refuse_if_paused_by_operator() -> None:
    if switch_enabled(name=SystemSwitch.Name.PAUSE_ALL):
        switch = SystemSwitch.objects.filter(name=SystemSwitch.Name.PAUSE_ALL).first()
        detail = f" ({switch.message})" if switch and switch.message else ""
        raise Conflict(
            f"An operator paused all campaigns{detail}: nothing can start or resume until "
            "they lift the pause.",
            code="paused_by_operator",
        )


def transition_precheck(*, campaign: Campaign, action: Action) -> str | None:
    """The table's answer from an unlocked read, so no-ops and refusals answer at once (no
    chain read); re-checked under the lock before anything is written."""
    try:
        return transition_target(current=campaign.status, action=action)
    except TransitionRefused as error:
        raise refused(error) from None


def campaign_pause(
    *,
    campaign_id: int,
    actor: User | None,
    owner: User | None = None,
    reason: str = "",
    ip: str | None = None,
) -> Campaign:
    """active → paused (the run too). The engine's planner stops scheduling new trades at its
    next window; trades already in flight finish. Also used by the circuit breaker (reason)."""
    return campaign_transition(
        campaign_id=campaign_id, action=Action.PAUSE, actor=actor, owner=owner, reason=reason,
        ip=ip,
    ).campaign  # fmt: skip


def campaign_finish(*, campaign_id: int, reason: str = "", now: datetime | None = None) -> Campaign:
    """stopping → stopped, once the engine gathered every maker wallet (engine only)."""
    return campaign_transition(
        campaign_id=campaign_id, action=Action.FINISH, actor=None, reason=reason, now=now
    ).campaign


def campaign_complete(
    *, campaign_id: int, reason: str = "", now: datetime | None = None
) -> Campaign:
    """→ completed: the run reached its target (engine only; call it after the gather)."""
    return campaign_transition(
        campaign_id=campaign_id, action=Action.COMPLETE, actor=None, reason=reason, now=now
    ).campaign


def campaign_fail(*, campaign_id: int, reason: str, now: datetime | None = None) -> Campaign:
    """→ failed with the reason shown to the user (engine, or beat failing a scheduled start)."""
    return campaign_transition(
        campaign_id=campaign_id, action=Action.FAIL, actor=None, reason=reason, now=now
    ).campaign


def campaign_follow_migration(*, campaign_id: int) -> Pool | None:
    """The campaign's pump.fun curve completed (the engine saw it): move the campaign to the
    token's canonical PumpSwap pool when its params allow it (the default), or pause it with
    the reason. Returns the pool it trades on now, or None when it paused. Repeating it once
    the campaign moved changes nothing."""
    campaign = Campaign.objects.select_related("pool", "token").get(pk=campaign_id)
    if campaign.pool.dex != Dex.PUMPFUN:
        return campaign.pool
    params = Params.from_json(campaign.params)
    pools = []
    if params.follow_migration is not False:
        mint = Pubkey.from_string(campaign.token.mint)
        # Outside the row lock: a chain read must not hold it.
        pools = chain_run(campaign.network, lambda rpc: PumpSwap().find_pools(rpc=rpc, mint=mint))
    if not pools:
        reason = (
            "The pump.fun curve completed: the token trades on PumpSwap now"
            + (", and this campaign does not follow it." if params.follow_migration is False
               else ", but its pool is not on chain yet.")
        )  # fmt: skip
        if campaign.status == CampaignStatus.ACTIVE:
            campaign_pause(campaign_id=campaign.pk, actor=None, reason=reason)
        return None
    target = pools[0]
    with transaction.atomic():
        # Lock: concurrent trades that all saw the completed curve switch it once.
        campaign = Campaign.objects.select_for_update().select_related("pool").get(pk=campaign_id)
        if campaign.pool.dex != Dex.PUMPFUN:
            return campaign.pool
        before = campaign.pool
        pool, _ = Pool.objects.update_or_create(
            network=campaign.network, address=str(target.address),
            defaults={
                "token": campaign.token, "dex": Dex.PUMPSWAP, "quote_mint": str(target.quote_mint),
                "metadata": {"migrated_from": before.address}, "fetched_at": timezone.now(),
            },
        )  # fmt: skip
        PoolSelection.objects.get_or_create(owner=campaign.owner, pool=pool)
        campaign.pool = pool
        campaign.status_reason = (
            f"The pump.fun curve completed: trading moved to PumpSwap pool {pool.address}."
        )
        campaign.save(update_fields=["pool", "status_reason", "updated_at"])
        status_forget(campaign)
        audit_log(
            actor=None, action="campaign.pool_migrated", entity="campaign", entity_id=campaign.pk,
            metadata={"from": before.address, "to": pool.address},
        )  # fmt: skip
        run = live_run_locked(campaign)
        realtime.run_status_publish(campaign=campaign, run=run)
    return pool
