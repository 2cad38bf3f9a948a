"""Campaign writes users (and beat, and operators) make: create, update, delete, and the
transitions that involve the run engine (schedule, start, resume, stop, sell-only, gather).

The state machine itself is `apps.campaigns.transitions` (lock, check the table, write, audit,
publish); this module adds what a transition needs around it: the start checks and the
engine's `run_engine_start/resume/stop`, in the transition's transaction. Checks that read the
chain (the funding wallet's balance) happen before the lock, so no row lock is ever held across
a network call; the state is re-checked under the lock, which turns a lost race into a no-op.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.admin_ops.alerts import alert_raise
from apps.admin_ops.models import Alert
from apps.campaigns import realtime
from apps.campaigns.domain import (
    Action,
    Params,
    TransitionRefused,
    guardrail_check,
    required_to_start,
    setup_fees,
    transition_target,
)
from apps.campaigns.models import (
    CAMPAIGN_LIVE,
    RUN_LIVE,
    Campaign,
    CampaignRun,
    CampaignStatus,
    RunStatus,
)
from apps.campaigns.params import params_from_input, params_to_input, validation_failed
from apps.campaigns.selectors import (
    campaign_limits,
    user_volume_since_lamports,
    utc_day_start,
    wallet_lamports,
)
from apps.campaigns.status_cache import status_forget
from apps.campaigns.transitions import (
    campaign_fail,
    campaign_transition,
    live_run_locked,
    locked_campaign,
    owned_campaign,
    refuse_if_paused_by_operator,
    refused,
    transition_apply,
    transition_precheck,
)
from apps.core.amounts import format_sol_trimmed
from apps.core.errors import Conflict, DomainError, Forbidden, NotFound
from apps.core.services import audit_log, ip_in_networks
from apps.core.text import check_name
from apps.execution.jobs import job_redrive
from apps.execution.lifecycle import run_engine_resume, run_engine_start, run_engine_stop
from apps.execution.models import Job
from apps.tokens.models import Network, Pool, PoolSelection, Token
from apps.tokens.selectors import mint_rule_refusal
from apps.wallets.models import Wallet

# Editable fields, and the params a paused run depends on (its makers exist and are funded).
EDITABLE_STATES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
FROZEN_WHILE_RUNNING = ("token_id", "pool_id", "funding_wallet_id")
FROZEN_PARAMS_WHILE_RUNNING = ("mode", "maker_count", "maker_funding_sol", "seed")


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


# ---------------------------------------------------------------------------------------------
# Validation shared by create, update and start


def _resolve(
    *, owner: User, token_id: Any, pool_id: Any, funding_wallet_id: Any, errors: dict
) -> tuple[Token | None, Pool | None, Wallet | None]:
    """The token, selected pool and custodial wallet the ids name, if they are the owner's;
    errors by field otherwise (an id of another user's object reads as "no such")."""

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    token = Token.objects.filter(pk=_int(token_id), links__owner=owner).first()
    if token is None:
        fail("token_id", "Choose one of your registered tokens.")
    selection = (
        PoolSelection.objects.filter(owner=owner, pool_id=_int(pool_id))
        .select_related("pool")
        .first()
    )
    pool = selection.pool if selection else None
    if pool is None:
        fail("pool_id", "Choose one of your selected pools.")
    elif token is not None and pool.token_id != token.pk:
        fail("pool_id", "This pool trades another token: choose a selected pool of this token.")
        pool = None
    wallet = Wallet.objects.filter(owner=owner, pk=_int(funding_wallet_id)).first()
    if wallet is None or wallet.kind != Wallet.Kind.CUSTODIAL:
        fail("funding_wallet_id", "Choose one of your custodial wallets (one with a key here).")
        wallet = None
    elif not wallet.active:
        fail("funding_wallet_id", "This wallet is inactive: activate it or choose another.")
    if token is not None:
        refusal = mint_rule_refusal(mint=token.mint)
        if refusal:
            fail("token_id", refusal)
        if token.network == Network.MAINNET and not owner.may_trade_mainnet:
            fail(
                "token_id",
                "Mainnet campaigns need an administrator's approval and your attestation of "
                "lawful use (see your profile).",
            )
    return token, pool, wallet


def _int(value: Any) -> int | None:
    try:
        return int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _check_schedule(
    *,
    params: Params,
    start_at: datetime | None,
    end_at: datetime | None,
    now: datetime,
    errors: dict,
) -> None:
    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if end_at is not None:
        if end_at <= (start_at or now):
            fail("end_at", "Must be after the start time (and in the future).")
        if params.duration_seconds is not None:
            fail("params.duration_seconds", "Give either an end time or a duration, not both.")
    ends_on_its_own = (
        params.mode == "sell_only"
        or params.target_volume_lamports is not None
        or params.budget_cap_lamports is not None
        or params.duration_seconds is not None
        or end_at is not None
    )
    if not ends_on_its_own:
        fail(
            "params.target_volume_sol",
            "Set a target volume, a budget cap, an end time or a duration: otherwise the "
            "campaign never ends on its own.",
        )


def _validate(
    *,
    owner: User,
    token_id: Any,
    pool_id: Any,
    funding_wallet_id: Any,
    params: dict,
    start_at: datetime | None,
    end_at: datetime | None,
    now: datetime,
) -> tuple[Token, Pool, Wallet]:
    """Every rule a campaign's configuration must meet (refs, guardrails, schedule), all
    reported at once by field. `params` is canonical (already through the schema)."""
    errors: dict[str, list[str]] = {}
    token, pool, wallet = _resolve(
        owner=owner, token_id=token_id, pool_id=pool_id,
        funding_wallet_id=funding_wallet_id, errors=errors,
    )  # fmt: skip
    typed = Params.from_json(params)
    refusals, _ = guardrail_check(params=typed, limits=campaign_limits(owner=owner))
    for name, messages in refusals.items():
        errors.setdefault(name, []).extend(messages)
    _check_schedule(params=typed, start_at=start_at, end_at=end_at, now=now, errors=errors)
    if errors:
        raise validation_failed(errors)
    return token, pool, wallet


# ---------------------------------------------------------------------------------------------
# Create, update, delete


def campaign_create(
    *,
    owner: User,
    name: str,
    token_id: int,
    pool_id: int,
    funding_wallet_id: int,
    params: dict,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    ip: str | None = None,
) -> Campaign:
    """Create a draft campaign. `params` is in the API shape (SOL as decimal strings); it is
    validated by the params schema and the platform guardrails, then stored canonical."""
    canonical = params_from_input(params)
    now = timezone.now()
    token, pool, wallet = _validate(
        owner=owner, token_id=token_id, pool_id=pool_id, funding_wallet_id=funding_wallet_id,
        params=canonical, start_at=start_at, end_at=end_at, now=now,
    )  # fmt: skip
    name = (name or "").strip()
    if not name:
        raise validation_failed({"name": ["Give the campaign a name."]})
    check_name(name, field="name")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            owner=owner, name=name[:80], token=token, pool=pool, funding_wallet=wallet,
            network=token.network, params=canonical, start_at=start_at, end_at=end_at,
        )  # fmt: skip
        audit_log(
            actor=owner, action="campaign.create", entity="campaign", entity_id=campaign.pk,
            metadata={"token": token.mint, "pool": pool.address, "network": token.network},
            ip=ip,
        )  # fmt: skip
    return campaign


def campaign_update(
    *, owner: User, campaign_id: int, changes: dict, ip: str | None = None
) -> Campaign:
    """Change a draft, scheduled or paused campaign. `changes` may hold name, token_id, pool_id,
    funding_wallet_id, start_at, end_at and `params` (a partial dict in the API shape, merged
    into the current params). A paused campaign keeps what its run depends on."""
    with transaction.atomic():
        # Lock: a concurrent start must see either the old or the new configuration.
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        if campaign.status not in EDITABLE_STATES:
            raise Conflict(
                f"A {campaign.get_status_display().lower()} campaign cannot be changed: "
                "pause it (or wait until it has ended) first.",
                code="not_editable",
            )
        patch_params = changes.get("params") or {}
        if campaign.status == CampaignStatus.PAUSED:
            frozen = [name for name in FROZEN_WHILE_RUNNING if name in changes] + [
                f"params.{name}" for name in FROZEN_PARAMS_WHILE_RUNNING if name in patch_params
            ]
            if frozen:
                message = "Cannot change while a run is in progress: stop the campaign first."
                raise validation_failed({name: [message] for name in frozen})
        current = params_to_input(campaign.params)
        if not isinstance(patch_params, dict):
            raise validation_failed({"params": ["Send the parameters as a JSON object."]})
        merged = {**current, **patch_params}
        canonical = params_from_input(merged)
        start_at = changes.get("start_at", campaign.start_at)
        end_at = changes.get("end_at", campaign.end_at)
        if campaign.status == CampaignStatus.SCHEDULED and start_at is None:
            raise validation_failed(
                {"start_at": ["A scheduled campaign needs a start time: stop it to cancel."]}
            )
        token, pool, wallet = _validate(
            owner=owner,
            token_id=changes.get("token_id", campaign.token_id),
            pool_id=changes.get("pool_id", campaign.pool_id),
            funding_wallet_id=changes.get("funding_wallet_id", campaign.funding_wallet_id),
            params=canonical, start_at=start_at, end_at=end_at, now=timezone.now(),
        )  # fmt: skip
        before = _snapshot(campaign)
        if "name" in changes:
            name = (changes["name"] or "").strip()
            if not name:
                raise validation_failed({"name": ["Give the campaign a name."]})
            check_name(name, field="name")
            campaign.name = name[:80]
        campaign.token, campaign.pool, campaign.funding_wallet = token, pool, wallet
        campaign.network = token.network
        campaign.params, campaign.start_at, campaign.end_at = canonical, start_at, end_at
        after = _snapshot(campaign)
        changed = sorted(key for key in after if after[key] != before[key])
        if not changed:
            return campaign
        campaign.save()
        status_forget(campaign)
        audit_log(
            actor=owner, action="campaign.update", entity="campaign", entity_id=campaign.pk,
            metadata={"changed": changed}, ip=ip,
        )  # fmt: skip
    return campaign


def _snapshot(campaign: Campaign) -> dict:
    return {
        "name": campaign.name,
        "token": campaign.token_id,
        "pool": campaign.pool_id,
        "funding_wallet": campaign.funding_wallet_id,
        "start_at": campaign.start_at,
        "end_at": campaign.end_at,
        "params": campaign.params,
    }


def campaign_delete(*, owner: User, campaign_id: int, ip: str | None = None) -> None:
    """Delete a campaign with its runs, jobs, executions and ledger, unless it is running:
    a live run has funds in maker wallets that must be gathered first."""
    with transaction.atomic():
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        if campaign.status in CAMPAIGN_LIVE:
            raise Conflict(
                f"The campaign is {campaign.get_status_display().lower()}: stop it and wait "
                "until its funds are gathered before deleting it.",
                code="campaign_running",
            )
        audit_log(
            actor=owner, action="campaign.delete", entity="campaign", entity_id=campaign.pk,
            metadata={"name": campaign.name, "status": campaign.status}, ip=ip,
        )  # fmt: skip
        status_forget(campaign)
        campaign.delete()


# ---------------------------------------------------------------------------------------------
# Transitions


def _guardrail_alert(*, campaign: Campaign, refusal: DomainError) -> None:
    """A start refused by a platform limit (a guardrail or the daily cap) is an alert: the
    owner sees it and the operators count it as an abuse signal. Other refusals (no funds,
    pause-all) are not the user's doing against a limit."""
    tripped = refusal.code == "daily_cap_reached" or any(
        name.startswith("params.") for name in refusal.fields
    )
    if tripped:
        alert_raise(
            kind=Alert.Kind.GUARDRAIL, user=campaign.owner, campaign=campaign,
            message=f"Start of “{campaign.name}” refused: {refusal.message}",
        )  # fmt: skip


def _start_checks(*, campaign: Campaign, now: datetime, check_funds: bool) -> None:
    """Everything a start requires besides the state: current guardrails (limits may have
    changed since the campaign was saved), the operator switch, today's volume cap and the
    funding wallet's balance."""
    _validate(
        owner=campaign.owner, token_id=campaign.token_id, pool_id=campaign.pool_id,
        funding_wallet_id=campaign.funding_wallet_id, params=campaign.params,
        start_at=None, end_at=campaign.end_at, now=now,
    )  # fmt: skip
    if not check_funds:
        return
    refuse_if_paused_by_operator()
    params = Params.from_json(campaign.params)
    limits = campaign_limits(owner=campaign.owner)
    traded = user_volume_since_lamports(owner=campaign.owner, since=utc_day_start(now))
    if traded >= limits.user_daily_volume_cap_lamports:
        raise Conflict(
            f"Your campaigns traded {format_sol_trimmed(traded)} SOL today, the daily cap of "
            f"{format_sol_trimmed(limits.user_daily_volume_cap_lamports)} SOL: start again "
            "tomorrow (UTC).",
            code="daily_cap_reached",
        )
    required = required_to_start(params)
    if required == 0:
        return
    held = wallet_lamports(wallet=campaign.funding_wallet, network=campaign.network)
    if held < required:
        fees = sum(setup_fees(params))
        how = (
            f"{params.maker_count} makers at "
            f"{format_sol_trimmed(params.maker_funding_lamports)} SOL each "
            f"plus {format_sol_trimmed(fees)} SOL of fees"
            if params.mode == "live"
            else f"{format_sol_trimmed(fees)} SOL of gather fees"
        )
        message = (
            f"The funding wallet holds {format_sol_trimmed(held)} SOL but this campaign needs "
            f"{format_sol_trimmed(required)} SOL to start ({how}): it is "
            f"{format_sol_trimmed(required - held)} SOL short."
        )
        raise InsufficientFunds(message, fields={"funding_wallet_id": [message]})


def _mainnet_start_check(*, campaign: Campaign, actor: User | None, ip: str | None) -> None:
    """With MAINNET_START_ALLOWED_NETWORKS set, a person may start (or schedule) a mainnet
    campaign only from those networks; beat's own scheduled start (no actor) was checked when
    the campaign was scheduled. A refusal is audited: it may be a stolen session."""
    networks = settings.MAINNET_START_ALLOWED_NETWORKS
    if not networks or actor is None or campaign.network != Network.MAINNET:
        return
    if ip_in_networks(ip, networks):
        return
    audit_log(
        actor=actor, action="campaign.start_refused", entity="campaign", entity_id=campaign.pk,
        metadata={"reason": "ip_not_allowed", "network": campaign.network}, ip=ip,
    )  # fmt: skip
    raise Forbidden(
        "Mainnet campaigns can only be started from the allowed networks.", code="ip_not_allowed"
    )


def campaign_schedule(
    *,
    campaign_id: int,
    actor: User | None,
    owner: User | None = None,
    now: datetime | None = None,
    ip: str | None = None,
) -> Campaign:
    """Arm a campaign to be started by beat at its `start_at` (which must be in the future).
    The balance is checked when beat starts it, not now: funds may still arrive."""
    now = now or timezone.now()
    _mainnet_start_check(
        campaign=owned_campaign(campaign_id=campaign_id, owner=owner), actor=actor, ip=ip
    )
    with transaction.atomic():
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        try:
            target = transition_target(current=campaign.status, action=Action.SCHEDULE)
        except TransitionRefused as error:
            raise refused(error) from None
        if target is None:
            return campaign
        if campaign.start_at is None or campaign.start_at <= now:
            raise validation_failed({"start_at": ["Set a start time in the future to schedule."]})
        _start_checks(campaign=campaign, now=now, check_funds=False)
        return transition_apply(
            campaign=campaign, target=target, action=Action.SCHEDULE, actor=actor,
            reason=f"Starts at {campaign.start_at.isoformat()}.", now=now, run=None, ip=ip,
        )  # fmt: skip


def campaign_start(
    *,
    campaign_id: int,
    actor: User | None,
    owner: User | None = None,
    now: datetime | None = None,
    ip: str | None = None,
) -> Campaign:
    """Start a campaign: a new CampaignRun (running) and the campaign active. A campaign whose
    start time is still ahead is scheduled instead (beat starts it then). Refused (nothing
    written) when a guardrail fails, an operator paused everything, today's cap is reached, or
    the funding wallet cannot cover the makers' funding and fees (the message says how much is
    missing). Concurrent starts create one run: the loser finds it active, a no-op."""
    now = now or timezone.now()
    campaign = owned_campaign(campaign_id=campaign_id, owner=owner)
    _mainnet_start_check(campaign=campaign, actor=actor, ip=ip)
    if campaign.start_at is not None and campaign.start_at > now:
        return campaign_schedule(campaign_id=campaign_id, actor=actor, owner=owner, now=now, ip=ip)
    if transition_precheck(campaign=campaign, action=Action.START) is None:
        return campaign
    try:
        _start_checks(campaign=campaign, now=now, check_funds=True)
    except DomainError as refusal:
        _guardrail_alert(campaign=campaign, refusal=refusal)
        raise
    with transaction.atomic():
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        try:
            target = transition_target(current=campaign.status, action=Action.START)
        except TransitionRefused as error:
            raise refused(error) from None
        if target is None:
            return campaign  # a concurrent start won the lock: nothing more to do
        params = Params.from_json(campaign.params)
        ends_at = campaign.end_at or (
            now + timedelta(seconds=params.duration_seconds) if params.duration_seconds else None
        )
        try:
            # Savepoint: the one-live-run constraint is the last line of defence; its
            # violation must read as a conflict, not a 500.
            with transaction.atomic():
                run = CampaignRun.objects.create(
                    campaign=campaign, status=RunStatus.RUNNING, seed=params.seed,
                    started_at=now, ends_at=ends_at,
                    summary={"mode": params.mode, "maker_count": params.maker_count},
                )  # fmt: skip
        except IntegrityError:
            raise Conflict(
                "This campaign already has a run in progress.", code="run_in_progress"
            ) from None
        transition_apply(
            campaign=campaign, target=target, action=Action.START, actor=actor, reason="",
            now=now, run=run, ip=ip,
        )  # fmt: skip
        # Creates the distribute job in this transaction; its task is enqueued on commit.
        run_engine_start(run_id=run.pk)
    return campaign


def campaign_resume(
    *, campaign_id: int, actor: User | None, owner: User | None = None, ip: str | None = None
) -> Campaign:
    """paused → active with the same run and makers (the engine plans its next window).
    Refused while an operator paused all."""
    with transaction.atomic():
        moved = campaign_transition(
            campaign_id=campaign_id, action=Action.RESUME, actor=actor, owner=owner, ip=ip
        )
        if moved.run is not None:
            run_engine_resume(run_id=moved.run.pk)
    return moved.campaign


SELL_ONLY_REASON = "Sell-only: no more buys; the makers sell what they hold, then it stops."


def campaign_sell_only(
    *, campaign_id: int, actor: User, owner: User | None = None, ip: str | None = None
) -> Campaign:
    """Stop buying: the run's planner plans only sells, on the campaign's cadence, until no
    maker holds tokens; then the run stops and gathers. For an active or paused campaign;
    repeating it changes nothing."""
    with transaction.atomic():
        campaign = locked_campaign(campaign_id=campaign_id, owner=owner)
        if campaign.status not in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
            raise Conflict(
                f"A {campaign.get_status_display().lower()} campaign has no run that trades: "
                "sell-only applies to an active or paused campaign.",
                code="invalid_transition",
            )
        # Lock: the planner reads the summary in its own row-locked write.
        run = live_run_locked(campaign)
        if run is None or run.summary.get("sell_only"):
            return campaign
        run.summary["sell_only"] = True
        run.save(update_fields=["summary", "updated_at"])
        campaign.status_reason = SELL_ONLY_REASON
        campaign.save(update_fields=["status_reason", "updated_at"])
        status_forget(campaign)
        audit_log(
            actor=actor, action="campaign.sell_only", entity="campaign", entity_id=campaign.pk,
            metadata={"run_id": run.pk}, ip=ip,
        )  # fmt: skip
        realtime.run_status_publish(campaign=campaign, run=run)
    return campaign


def campaign_stop(
    *,
    campaign_id: int,
    actor: User | None,
    owner: User | None = None,
    reason: str = "",
    now: datetime | None = None,
    ip: str | None = None,
) -> Campaign:
    """active/paused → stopping: the engine sells what the makers hold and sweeps everything
    back, then calls campaign_finish (or campaign_complete). A scheduled campaign just stops."""
    with transaction.atomic():
        moved = campaign_transition(
            campaign_id=campaign_id, action=Action.STOP, actor=actor, owner=owner,
            reason=reason, now=now, ip=ip,
        )  # fmt: skip
        if moved.run is not None and moved.target == CampaignStatus.STOPPING:
            run_engine_stop(run_id=moved.run.pk)
    return moved.campaign


def campaign_gather(
    *, campaign_id: int, actor: User, owner: User | None = None, ip: str | None = None
) -> Campaign:
    """Get a campaign's funds back now. A running or paused campaign is stopped (which gathers);
    a stopping one gets its gather job (re)queued: created if missing, re-driven if it died
    (e.g. a maker could not be emptied and the cause is fixed). Idempotent; other states are
    left alone."""
    campaign = owned_campaign(campaign_id=campaign_id, owner=owner)
    who = "its owner" if actor.pk == campaign.owner_id else "an operator"
    if campaign.status in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED):
        return campaign_stop(
            campaign_id=campaign_id, actor=actor, owner=owner, ip=ip,
            reason=f"Gather requested by {who}.",
        )  # fmt: skip
    run = (
        CampaignRun.objects.filter(campaign_id=campaign_id, status__in=RUN_LIVE)
        .order_by("-started_at", "-id")
        .first()
    )
    if campaign.status != CampaignStatus.STOPPING or run is None:
        return campaign
    job = run_engine_stop(run_id=run.pk)
    if job.status in (Job.Status.DEAD, Job.Status.FAILED):
        job = job_redrive(job_id=job.pk)
        audit_log(
            actor=actor, action="job.redrive", entity="job", entity_id=job.pk,
            metadata={"run_id": run.pk, "type": job.type, "via": "gather"}, ip=ip,
        )  # fmt: skip
    return campaign


# ---------------------------------------------------------------------------------------------
# Scheduling (beat)


def campaigns_schedule_tick(*, now: datetime) -> dict[str, list[int]]:
    """Start scheduled campaigns whose start time has come, and stop runs whose window ended.
    A start that an operator's pause-all refuses stays scheduled (tried again next tick); one
    refused for any other reason fails with that reason, so the user sees why."""
    started, stopped, failed = [], [], []
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, start_at__lte=now)
    for campaign_id, end_at in due.order_by("start_at", "id").values_list("id", "end_at"):
        if end_at is not None and end_at <= now:
            campaign_stop(
                campaign_id=campaign_id, actor=None, now=now,
                reason="The schedule window ended before the campaign could start.",
            )  # fmt: skip
            stopped.append(campaign_id)
            continue
        try:
            campaign_start(campaign_id=campaign_id, actor=None, now=now)
        except NotFound:
            continue  # deleted since the query
        except Conflict as error:
            if error.code == "paused_by_operator":
                continue
            campaign_fail(campaign_id=campaign_id, reason=error.message, now=now)
            failed.append(campaign_id)
        except DomainError as error:
            if error.status_code >= 500:  # the chain did not answer: try again next tick
                continue
            campaign_fail(campaign_id=campaign_id, reason=error.message, now=now)
            failed.append(campaign_id)
        else:
            started.append(campaign_id)
    ending = CampaignRun.objects.filter(
        status__in=[RunStatus.RUNNING, RunStatus.PAUSED], ends_at__lte=now
    )
    for campaign_id in ending.order_by("ends_at", "id").values_list("campaign_id", flat=True):
        campaign_stop(
            campaign_id=campaign_id, actor=None, now=now, reason="The schedule window ended."
        )
        stopped.append(campaign_id)
    return {"started": started, "stopped": stopped, "failed": failed}
