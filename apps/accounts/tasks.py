from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.accounts.services import unverified_signups_purge


@shared_task(name="accounts.purge_unverified_signups")
def purge_unverified_signups() -> int:
    return unverified_signups_purge(older_than=timedelta(days=settings.UNVERIFIED_SIGNUP_TTL_DAYS))
