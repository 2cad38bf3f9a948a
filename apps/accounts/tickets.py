"""WebSocket tickets: a client that cannot send a session cookie (an API client) first asks the
API for a ticket, then opens `/ws/campaigns/<id>/?ticket=<ticket>`. A ticket is random, valid
WS_TICKET_SECONDS, bound to one user and one campaign, and works once, so the one secret that
does travel in the URL (and so may reach a proxy's log) is worthless by the time anyone reads
it. Kept in Redis (the cache) under the hash of the ticket."""

import hashlib
import secrets

from django.conf import settings
from django.core.cache import cache

from apps.accounts.models import User


def _key(ticket: str) -> str:
    return "wsticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def ws_ticket_issue(*, user: User, campaign_id: int) -> str:
    """A fresh ticket for `user` to open the WebSocket of campaign `campaign_id` (the caller has
    checked the user may see that campaign)."""
    ticket = secrets.token_urlsafe(32)
    cache.set(_key(ticket), {"user": user.pk, "campaign": campaign_id}, settings.WS_TICKET_SECONDS)
    return ticket


def ws_ticket_redeem(*, ticket: str, campaign_id: int) -> User | None:
    """The active user the ticket was issued to, if it is live and for this campaign; the ticket
    is spent either way (one use, even a wrong one)."""
    key = _key(ticket)
    data = cache.get(key)
    # Whoever deletes it redeems it: of two connections racing with one ticket, one wins.
    if data is None or not cache.delete(key) or data["campaign"] != campaign_id:
        return None
    return User.objects.filter(pk=data["user"], is_active=True).first()
