"""A campaign's status body for the API, cached for STATUS_CACHE_S: bots and dashboards poll it
many times a second, and every poll would otherwise read the campaign and its latest run.

Keyed by the owner and the campaign, and stored only after the owner-scoped lookup found the
campaign, so one user's entry is never another's answer. A transition, an edit or a delete
forgets it on commit; the run's counters may lag by at most the TTL (the engine's status tick
is itself every few seconds). Redis down: every read is a miss (SoftCache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from apps.core.outage import soft_cache

if TYPE_CHECKING:
    from apps.campaigns.models import Campaign


def status_key(*, owner_id: int, campaign_id: int) -> str:
    return f"campaign-status:{owner_id}:{campaign_id}"


def status_cached(*, owner_id: int, campaign_id: int, compute: Callable[[], dict]) -> dict:
    """The cached body, or `compute()` (which checks ownership and raises for another's)."""
    key = status_key(owner_id=owner_id, campaign_id=campaign_id)
    body = soft_cache.get(key)
    if body is None:
        body = compute()
        soft_cache.set(key, body, settings.STATUS_CACHE_S)
    return body


def status_forget(campaign: Campaign) -> None:
    """Drop the campaign's cached body once its change commits (a rolled-back one changes
    nothing); every write of a campaign row calls this."""
    key = status_key(owner_id=campaign.owner_id, campaign_id=campaign.pk)
    transaction.on_commit(lambda: soft_cache.delete(key))
