"""Operator actions (writes). Each is one audited state change with the operator as actor, and
repeating it is a no-op: no second audit row, no second notice.

Campaign state always moves through `apps.campaigns.services` (which audit the transition with
the operator as actor), jobs through `apps.execution.jobs`; this module adds the operator's
own switches, suspensions, alert resolution and the gauges read at scrape time. Raising an
alert is `apps.admin_ops.alerts` (below the campaigns and the engine, which raise them).
"""

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.admin_ops.models import Alert
from apps.admin_ops.selectors import job_counts, queue_depths
from apps.campaigns.models import Campaign, CampaignStatus
from apps.campaigns.services import campaign_gather, campaign_resume, campaign_stop
from apps.campaigns.transitions import campaign_pause
from apps.core import metrics
from apps.core.errors import Conflict
from apps.core.models import PAUSE_ALL_REASON, SystemSwitch
from apps.core.realtime import notice_publish
from apps.core.services import audit_log
from apps.execution.jobs import job_redrive
from apps.execution.models import Job

logger = logging.getLogger(__name__)

SUSPEND_REASON = "The account was suspended by an operator."


# ---------------------------------------------------------------------------------------------
# Pause-all


def pause_all_set(
    *, enabled: bool, actor: User, message: str = "", ip: str | None = None
) -> SystemSwitch:
    """Turn the pause-all switch on or off. On: every run's planner pauses it at its next window
    and nothing can start or resume; every open page shows the notice. Off: the campaigns that
    the switch paused are resumed (a campaign paused for another reason stays paused)."""
    message = message.strip()[:280]
    with transaction.atomic():
        SystemSwitch.objects.get_or_create(name=SystemSwitch.Name.PAUSE_ALL)
        # Row lock: two operators pressing the button at once write one change and one audit row.
        switch = SystemSwitch.objects.select_for_update().get(name=SystemSwitch.Name.PAUSE_ALL)
        if switch.enabled == enabled:
            return switch
        switch.enabled, switch.updated_by = enabled, actor
        switch.message = message if enabled else ""
        switch.save(update_fields=["enabled", "message", "updated_by", "updated_at"])
        audit_log(
            actor=actor, action="ops.pause_all" if enabled else "ops.resume_all",
            entity="system_switch", entity_id=switch.name, metadata={"message": message}, ip=ip,
        )  # fmt: skip
        logger.info("pause-all switched", extra={"enabled": enabled, "actor_id": actor.pk})
        if enabled:
            text = "An operator paused all campaigns" + (f": {message}" if message else ".")
            notice_publish(text=text, level="warning")
        else:
            notice_publish(text="Operators lifted the pause: campaigns run again.", level="info")
    if not enabled:
        campaigns_resume_paused_by_operator(actor=actor, ip=ip)
    return switch


def campaigns_resume_paused_by_operator(*, actor: User, ip: str | None = None) -> list[int]:
    """Resume every campaign the pause-all switch paused; each is its own audited transition."""
    resumed = []
    paused = Campaign.objects.filter(
        status=CampaignStatus.PAUSED, status_reason=PAUSE_ALL_REASON
    ).order_by("pk")
    for campaign_id in paused.values_list("pk", flat=True):
        try:
            campaign_resume(campaign_id=campaign_id, actor=actor, ip=ip)
        except Conflict as error:
            # The campaign moved meanwhile (stopped by its owner): nothing to resume.
            logger.info("not resumed", extra={"campaign_id": campaign_id, "why": error.message})
            continue
        resumed.append(campaign_id)
    return resumed


# ---------------------------------------------------------------------------------------------
# Users


def _sessions_delete(*, user_id: int) -> int:
    """Sign a user out everywhere: delete every session that carries their id (through the
    session engine, so the cached copy goes too)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    deleted = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user_id):
            store(session_key=session.session_key).delete()
            deleted += 1
    return deleted


def user_suspend(*, user_id: int, actor: User, ip: str | None = None) -> User:
    """Suspend an account: it can no longer sign in or use its API tokens (inactive users are
    refused by both), its sessions end now, its active campaigns pause and scheduled ones are
    stopped so nothing starts on its behalf."""
    if user_id == actor.pk:
        raise Conflict("You cannot suspend your own account.", code="suspend_self")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if not user.is_active:
            return user
        user.is_active = False
        user.save(update_fields=["is_active"])
        sessions = _sessions_delete(user_id=user.pk)
        audit_log(
            actor=actor, action="account.suspend", entity="user", entity_id=user.pk,
            metadata={"sessions_ended": sessions}, ip=ip,
        )  # fmt: skip
        notice_publish(text="Your account was suspended.", level="error", user_id=user.pk)
        logger.info("user suspended", extra={"suspended_user_id": user.pk, "actor_id": actor.pk})
    # After the commit, one transition per campaign (each locks its campaign and run).
    campaigns = Campaign.objects.filter(
        owner_id=user.pk, status__in=[CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED]
    ).order_by("pk")
    for campaign in campaigns:
        transition = campaign_pause if campaign.status == CampaignStatus.ACTIVE else campaign_stop
        try:
            transition(campaign_id=campaign.pk, actor=actor, reason=SUSPEND_REASON, ip=ip)
        except Conflict:
            continue  # moved meanwhile; whatever state it reached is not active any more
    return user


def user_unsuspend(*, user_id: int, actor: User, ip: str | None = None) -> User:
    """Let a suspended user sign in again. Their paused campaigns stay paused: the owner
    resumes them."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if user.is_active:
            return user
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_log(actor=actor, action="account.unsuspend", entity="user", entity_id=user.pk, ip=ip)
    return user


def user_set_mainnet(*, user_id: int, allowed: bool, actor: User, ip: str | None = None) -> User:
    """Allow or disallow mainnet for a user (they still have to attest to lawful use)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if user.mainnet_allowed == allowed:
            return user
        user.mainnet_allowed = allowed
        user.save(update_fields=["mainnet_allowed"])
        audit_log(
            actor=actor, action="account.mainnet_allow" if allowed else "account.mainnet_disallow",
            entity="user", entity_id=user.pk, ip=ip,
        )  # fmt: skip
    return user


# ---------------------------------------------------------------------------------------------
# Campaigns and jobs


def campaign_force_gather(*, campaign_id: int, actor: User, ip: str | None = None) -> Campaign:
    """Get a campaign's funds back now (the owner's gather control, with an operator as actor)."""
    return campaign_gather(campaign_id=campaign_id, actor=actor, ip=ip)


def jobs_redrive(*, job_ids: list[int], actor: User, ip: str | None = None) -> list[int]:
    """Re-queue dead-letter jobs with fresh attempts; returns the ids that were re-driven. A job
    that is not dead any more (re-driven already, or finished) is left alone. Landing at most
    once is the idempotent send's promise: it resolves an earlier attempt's signature first."""
    redriven = []
    for job_id in sorted(job_ids):
        with transaction.atomic():
            # Row lock held across the check and the re-drive (job_redrive locks it again).
            job = Job.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.status != Job.Status.DEAD:
                continue
            error = job.error
            job_redrive(job_id=job_id)
            audit_log(
                actor=actor, action="job.redrive", entity="job", entity_id=job_id,
                metadata={"run_id": job.run_id, "type": job.type, "error": error}, ip=ip,
            )  # fmt: skip
        redriven.append(job_id)
    if redriven:
        logger.info("dead jobs re-driven", extra={"job_ids": redriven, "actor_id": actor.pk})
    return redriven


# ---------------------------------------------------------------------------------------------
# Alerts


def alert_resolve(*, alert_id: int, actor: User, ip: str | None = None) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert_id)
        if alert.resolved_at is not None:
            return alert
        alert.resolved_at, alert.resolved_by = timezone.now(), actor
        alert.save(update_fields=["resolved_at", "resolved_by"])
        audit_log(
            actor=actor, action="alert.resolve", entity="alert", entity_id=alert.pk,
            metadata={"kind": alert.kind, "user_id": alert.user_id}, ip=ip,
        )  # fmt: skip
    return alert


# ---------------------------------------------------------------------------------------------
# Metrics


def metrics_refresh() -> None:
    """Set the gauges that describe shared state, just before a scrape is rendered."""
    for queue, depth in queue_depths().items():
        if depth is not None:
            metrics.QUEUE_DEPTH.labels(queue=queue).set(depth)
    metrics.JOBS_LIVE.clear()
    for (queue, status), count in job_counts().items():
        metrics.JOBS_LIVE.labels(queue=queue, status=status).set(count)
