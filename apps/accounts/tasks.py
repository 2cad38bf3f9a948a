from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.accounts.services import expired_tokens_purge, unverified_signups_purge


@shared_task(name="accounts.purge_unverified_signups")
def purge_unverified_signups() -> int:
    return unverified_signups_purge(older_than=timedelta(days=settings.UNVERIFIED_SIGNUP_TTL_DAYS))


@shared_task(name="accounts.purge_expired_tokens")
def purge_expired_tokens() -> int:
    return expired_tokens_purge()
