"""Campaigns and their runs.

A `Campaign` is what a user configures (token, pool, funding wallet, params, schedule); each start
creates a `CampaignRun`, the unit the run engine (apps.execution) executes, pauses and gathers.
Status moves only through `apps.campaigns.services` (one transition table in `domain.py`).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


# States in which a campaign holds (or is about to hold) funds in maker wallets.
CAMPAIGN_LIVE = (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.STOPPING)
RUN_LIVE = (RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.STOPPING)


class Campaign(TimeStampedModel):
    """One user's volume campaign for a token on one pool, funded from one custodial wallet.

    `params` is the canonical JSON of `apps.campaigns.params.CampaignParamsSerializer` (integer
    lamports and milliseconds, with a `version`); read it typed with `domain.Params.from_json`.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaigns"
    )
    name = models.CharField(max_length=80)
    # RESTRICT: tokens, pools and wallets with campaign history are not deleted from under it
    # (the wallets app refuses to delete a wallet a campaign references, see wallet_in_use).
    token = models.ForeignKey("tokens.Token", on_delete=models.RESTRICT, related_name="campaigns")
    pool = models.ForeignKey("tokens.Pool", on_delete=models.RESTRICT, related_name="campaigns")
    funding_wallet = models.ForeignKey(
        "wallets.Wallet", on_delete=models.RESTRICT, related_name="funded_campaigns"
    )
    network = models.CharField(max_length=16)
    params = models.JSONField()
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    status_reason = models.CharField(max_length=280, blank=True)
    start_at = models.DateTimeField(
        null=True, blank=True, help_text="When beat starts a scheduled campaign (empty: at once)."
    )
    end_at = models.DateTimeField(
        null=True, blank=True, help_text="When beat stops the campaign (absolute window end)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="campaign_owner_created"),
            # Beat looks for due scheduled campaigns every few seconds.
            models.Index(
                fields=["start_at"],
                name="campaign_scheduled_start",
                condition=Q(status=CampaignStatus.SCHEDULED),
            ),
            models.Index(
                fields=["status"],
                name="campaign_live_status",
                condition=Q(status__in=[CampaignStatus.SCHEDULED, *CAMPAIGN_LIVE]),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current_run(self) -> "CampaignRun | None":
        return self.runs.order_by("-started_at", "-id").first()


class CampaignRun(models.Model):
    """One execution of a campaign, from start to the end of its gather.

    Counters that move with every trade are real integer columns, updated by the run engine with
    `F()` (`CampaignRun.objects.filter(pk=...).update(trades_total=F("trades_total") + 1, ...)`),
    so concurrent workers never lose an increment and the status endpoint reads them without
    aggregating executions. `summary` holds everything else the engine wants to show (stop
    condition, circuit-breaker state, maker count, what is left after a gather, ...).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    status_reason = models.CharField(max_length=280, blank=True)
    seed = models.BigIntegerField(help_text="Planner seed: the same seed replays the same plan.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Window end for this run (end_at, or start + duration)."
    )
    # Counters (lamports are integers; see the class docstring for how they move).
    volume_lamports = models.BigIntegerField(default=0)
    trades_total = models.PositiveIntegerField(default=0)
    trades_succeeded = models.PositiveIntegerField(default=0)
    trades_failed = models.PositiveIntegerField(default=0)
    fees_lamports = models.BigIntegerField(default=0)
    tips_lamports = models.BigIntegerField(default=0)
    price_impact_lamports = models.BigIntegerField(default=0)
    funded_lamports = models.BigIntegerField(default=0)
    gathered_lamports = models.BigIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # At most one live run per campaign, whatever the application does.
            models.UniqueConstraint(
                fields=["campaign"],
                name="campaignrun_one_live_per_campaign",
                condition=Q(status__in=RUN_LIVE),
            ),
        ]
        indexes = [
            models.Index(
                fields=["ends_at"],
                name="campaignrun_live_ends_at",
                condition=Q(status__in=[RunStatus.RUNNING, RunStatus.PAUSED]),
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of campaign {self.campaign_id}"

    @property
    def spent_lamports(self) -> int:
        """What the run cost: network fees, Jito tips and price impact (incl. venue fees)."""
        return self.fees_lamports + self.tips_lamports + self.price_impact_lamports

    @property
    def success_rate_bps(self) -> int | None:
        finished = self.trades_succeeded + self.trades_failed
        return None if finished == 0 else self.trades_succeeded * 10_000 // finished
