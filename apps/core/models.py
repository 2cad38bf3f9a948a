from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """Who did what to which object, when and from where. Append-only: written by
    `apps.core.services.audit_log`, never updated; the admin shows it read-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    entity = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["entity", "entity_id"]),
            models.Index(fields=["action", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.entity}:{self.entity_id}"


# The reason a run paused for the pause-all switch carries (the planner pauses it at its next
# window); resume-all resumes exactly the campaigns paused for it.
PAUSE_ALL_REASON = "An operator paused all."


class SystemSwitch(models.Model):
    """An operator flag, e.g. `pause_all`. Absent means off."""

    class Name(models.TextChoices):
        PAUSE_ALL = "pause_all", "Pause all campaigns"

    name = models.CharField(max_length=32, choices=Name.choices, unique=True)
    enabled = models.BooleanField(default=False)
    message = models.CharField(max_length=280, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.enabled else 'off'}"
