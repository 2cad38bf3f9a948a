"""The run engine's data: jobs (one per Celery task of a run), executions (one per signed
transaction of a job) and the ledger (every lamport and raw token unit that moves).

The engine that writes them is the rest of this package. Deletes cascade campaign → runs →
jobs → executions (and run → ledger). Wallet references are RESTRICT: a
wallet with history cannot be deleted on its own, only together with its owner's data.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        DEAD = "dead", "Dead (attempts exhausted)"

    class Type(models.TextChoices):
        DISTRIBUTE = "distribute", "Distribute"
        PREFLIGHT = "preflight", "Pre-flight"
        TRADE_BUY = "trade_buy", "Buy"
        TRADE_SELL = "trade_sell", "Sell"
        STATUS = "status", "Status"
        FUNDS_GATHER = "funds_gather", "Gather funds"
        PLAN = "plan", "Planner window"

    class Step(models.TextChoices):
        # A job type with one step, or the first of several (distribute: make the makers;
        # funds_gather: cancel what is queued and start the makers' sells).
        MAIN = "main", "Main"
        BATCH = "batch", "Funding batch"  # distribute: one funding transaction
        SELL = "sell", "Sell a maker's tokens"  # funds_gather, per maker (payload wallet_id)
        SWEEP = "sweep", "Sweep a maker"  # funds_gather, per batch of makers (wallet_ids)
        FINISH = "finish", "Finish the run"  # funds_gather, once every maker is swept

    LIVE = (Status.QUEUED, Status.PROCESSING)
    TRADE_TYPES = (Type.TRADE_BUY, Type.TRADE_SELL)
    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.DEAD)

    run = models.ForeignKey("campaigns.CampaignRun", on_delete=models.CASCADE, related_name="jobs")
    queue = models.CharField(max_length=32)
    type = models.CharField(max_length=32, choices=Type.choices)
    # Ids and amounts only: never a key or anything secret (tasks and the admin show it).
    payload = models.JSONField(default=dict, blank=True)
    step = models.CharField(max_length=16, choices=Step.choices, default=Step.MAIN)
    # A planner job's window (its position in the run's plan); None for other types.
    window = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.JSONField(null=True, blank=True)
    # What a finished job did (e.g. "skipped: nothing to sell"), for the logs and the admin.
    result = models.JSONField(null=True, blank=True)
    # run + type + sequence: enqueueing the same planned step twice hits the unique constraint.
    # Only for uniqueness: what a job is comes from `type`, `step`, `window` and `payload`.
    idempotency_key = models.CharField(max_length=200, unique=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["run", "type"], name="job_run_type"),
            # Workers and the stuck-job detector only ever look at live jobs.
            models.Index(
                fields=["status", "scheduled_for"],
                name="job_live_status",
                condition=Q(status__in=["queued", "processing"]),
            ),
            models.Index(
                fields=["run", "status"],
                name="job_run_dead",
                condition=Q(status="dead"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} job {self.pk} ({self.status})"


class Execution(models.Model):
    """One transaction of a job's attempt. The row (with signature and last_valid_block_height)
    is committed before the transaction is sent, so a crash can always resolve it by signature."""

    class Status(models.TextChoices):
        SIGNED = "signed", "Signed"
        SENT = "sent", "Sent"
        LANDED = "landed", "Landed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        SIMULATED = "simulated", "Simulated (dry run)"

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"
        TRANSFER = "transfer", "Transfer"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="executions")
    # Denormalised from job.run (and run.campaign), so a run's trade feed and a campaign's logs
    # (every run, newest first) are each one indexed range scan, whatever the history holds:
    # across a campaign's runs no index on (run, created_at) gives the rows in time order.
    run = models.ForeignKey(
        "campaigns.CampaignRun", on_delete=models.CASCADE, related_name="executions"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="executions",
        db_index=False,  # the logs' indexes below lead with it
    )  # fmt: skip
    attempt = models.PositiveIntegerField()
    signature = models.CharField(max_length=88, unique=True, null=True, blank=True)
    blockhash = models.CharField(max_length=44, blank=True)
    last_valid_block_height = models.BigIntegerField(null=True, blank=True)
    bundle_id = models.CharField(max_length=100, blank=True)
    # The signed bytes, committed with the row: a crash between commit and send is recovered by
    # re-sending the same bytes (same signature, so still at most one landing transaction)
    # instead of waiting for the blockhash to expire. A signed transaction holds no secret.
    raw_transaction = models.BinaryField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices)
    side = models.CharField(max_length=16, choices=Side.choices)
    wallet = models.ForeignKey(
        "wallets.Wallet", on_delete=models.RESTRICT, related_name="executions"
    )
    slot = models.BigIntegerField(null=True, blank=True)
    fee_lamports = models.BigIntegerField(default=0)
    tip_lamports = models.BigIntegerField(default=0)
    # Buy: SOL paid in / tokens received out. Sell: tokens paid in / SOL received out.
    sol_in_lamports = models.BigIntegerField(default=0)
    sol_out_lamports = models.BigIntegerField(default=0)
    # Raw token units are u64 on chain: more than a signed bigint holds.
    token_in_raw = models.DecimalField(max_digits=20, decimal_places=0, default=0)
    token_out_raw = models.DecimalField(max_digits=20, decimal_places=0, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "attempt"], name="execution_job_attempt"),
        ]
        indexes = [
            models.Index(fields=["run", "-created_at", "-id"], name="execution_run_created"),
            # The logs in their keyset order (`apps.core.pagination`), unfiltered and by status
            # (a rare status, e.g. failed or signed, would otherwise scan the whole campaign).
            models.Index(
                fields=["campaign", "-created_at", "-id"], name="execution_campaign_created"
            ),
            models.Index(
                fields=["campaign", "status", "-created_at", "-id"],
                name="execution_campaign_status",
            ),
            models.Index(fields=["wallet", "-created_at"], name="execution_wallet_created"),
            # The control room's last hour and day over every campaign: rows are appended in
            # time order, so a block range index finds a window's rows for almost no upkeep.
            BrinIndex(fields=["created_at"], name="execution_created_brin"),
            # Signatures still waiting for an answer, for the confirmer.
            models.Index(
                fields=["created_at"],
                name="execution_in_flight",
                condition=Q(status__in=["signed", "sent"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.signature or '(unsigned)'} ({self.status})"

    @property
    def volume_lamports(self) -> int:
        return self.sol_in_lamports + self.sol_out_lamports if self.side != "transfer" else 0


class LedgerEntry(models.Model):
    """Every lamport and raw token unit that moves for a run, per wallet, signed (+ in, - out).
    Written from a landed transaction's real pre/post balances; balances are sums of rows."""

    class Kind(models.TextChoices):
        FUND = "fund", "Funding"
        TRADE = "trade", "Trade"
        FEE = "fee", "Network fee"
        TIP = "tip", "Jito tip"
        GATHER = "gather", "Gather"
        ADJUST = "adjust", "Adjustment"

    run = models.ForeignKey(
        "campaigns.CampaignRun", on_delete=models.CASCADE, related_name="ledger_entries"
    )
    wallet = models.ForeignKey(
        "wallets.Wallet", on_delete=models.RESTRICT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    lamports_delta = models.BigIntegerField(default=0)
    mint = models.CharField(max_length=44, blank=True, help_text="Token of token_delta_raw.")
    token_delta_raw = models.DecimalField(max_digits=20, decimal_places=0, default=0)
    execution = models.ForeignKey(
        Execution,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="ledger_entries",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["created_at", "id"]
        constraints = [
            # A retried ledger write for the same landed transaction cannot double-count.
            models.UniqueConstraint(
                fields=["execution", "wallet", "kind"],
                name="ledger_once_per_execution",
                condition=Q(execution__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["run", "wallet"], name="ledger_run_wallet"),
            models.Index(fields=["wallet", "created_at"], name="ledger_wallet_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.lamports_delta:+d} lamports → wallet {self.wallet_id}"
