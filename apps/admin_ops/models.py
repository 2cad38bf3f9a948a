"""Operator-facing records: alerts raised by the engine or the platform about a user's runs.

An alert is both the owner's notice and the operators' to-do item; repeated alerts of one kind
about one campaign fold into the open one (`count`, `last_seen_at`) so a reconcile that finds
the same mismatch every minute does not bury the console, and the counts feed the abuse flags.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Alert(models.Model):
    class Kind(models.TextChoices):
        LOW_BALANCE = "low_balance", "Low funding-wallet balance"
        CIRCUIT_BREAKER = "circuit_breaker", "Circuit breaker paused a run"
        RECONCILE_MISMATCH = "reconcile_mismatch", "Ledger and chain disagree"
        GUARDRAIL = "guardrail", "Guardrail tripped"
        RATE_LIMIT = "rate_limit", "Rate limit hit"

    # Kinds that say something about how a user behaves, not about the platform.
    ABUSE_KINDS = (Kind.CIRCUIT_BREAKER, Kind.GUARDRAIL, Kind.RATE_LIMIT)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(max_length=500)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["user", "kind", "last_seen_at"], name="alert_user_kind_seen"),
            models.Index(
                fields=["-last_seen_at"], name="alert_open", condition=Q(resolved_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id} (x{self.count})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
