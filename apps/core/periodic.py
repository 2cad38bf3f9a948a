"""Every periodic job of the platform, declared here and installed into django-celery-beat by
`python manage.py setup_periodic_tasks` (run by `make run` and at deploy)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    every_seconds: int
    queue: str = "default"


PERIODIC_TASKS: tuple[Periodic, ...] = (
    Periodic(
        name="Purge unverified sign-ups",
        task="accounts.purge_unverified_signups",
        every_seconds=3600,
    ),
    Periodic(
        # Every issued refresh token has a row (to be blacklisted on use); expired ones go.
        name="Purge expired API tokens",
        task="accounts.purge_expired_tokens",
        every_seconds=24 * 3600,
    ),
    Periodic(
        # Starts due scheduled campaigns and stops runs past their window end; the tick is
        # how late a scheduled start or window end may be.
        name="Start and stop scheduled campaigns",
        task="campaigns.schedule_tick",
        every_seconds=10,
    ),
    Periodic(
        # Run stats to the dashboards, and re-sending the tasks of jobs whose worker died.
        name="Run engine status",
        task="execution.status_tick",
        every_seconds=10,
        queue="status",
    ),
    Periodic(
        # Ledger against chain per maker wallet; a mismatch pauses the run (safety mode).
        name="Run engine reconcile",
        task="execution.reconcile",
        every_seconds=60,
        queue="status",
    ),
    Periodic(
        # Webhook deliveries whose task was lost or whose worker died are sent again.
        name="Webhook deliveries redrive",
        task="webhooks.redrive",
        every_seconds=60,
        queue="webhook",
    ),
    Periodic(
        # The daily summary e-mail to the users who asked for it.
        name="Daily summary e-mail",
        task="webhooks.daily_summary",
        every_seconds=24 * 3600,
    ),
)
