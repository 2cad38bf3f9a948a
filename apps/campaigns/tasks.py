from celery import shared_task
from django.utils import timezone

from apps.campaigns.services import campaigns_schedule_tick


@shared_task(name="campaigns.schedule_tick")
def schedule_tick() -> dict[str, list[int]]:
    """Beat: start due scheduled campaigns, stop runs past their window end."""
    return campaigns_schedule_tick(now=timezone.now())
