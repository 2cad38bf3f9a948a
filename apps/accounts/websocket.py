"""Who a WebSocket connection is: an API client's ticket or access token, or the browser's
session.

A browser sends its session cookie to any page's WebSocket, whichever site opened it, so a
cookie-authenticated connection must come from one of our own origins (Channels'
AllowedHostsOriginValidator, as before). A `?ticket=` (single use, from
`POST /v1/campaigns/<id>/ws-ticket`) or `?token=<access token>` is not ambient authority: only
the client that holds it can send it, and non-browser clients send no Origin at all, so a
connection that names one is checked by it alone and never falls back to the session (a foreign
page that adds a junk token cannot borrow the visitor's cookie). A ticket is bound to one
campaign, so the consumer that knows the campaign redeems it (`scope["ws_ticket"]`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.accounts.tokens import StampedJWTAuthentication


def token_user(token: str):
    """The active user of a valid, unrevoked access token, or None."""
    auth = StampedJWTAuthentication()
    try:
        user = auth.get_user(auth.get_validated_token(token.encode()))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None
    return user if user.is_active else None


class TokenOrSessionAuth:
    """ASGI middleware for the WebSocket router: `scope["ws_ticket"]` from `?ticket=` or
    `scope["user"]` from `?token=` (any Origin, or none), else `scope["user"]` from the session
    cookie (own origins only; others are refused)."""

    def __init__(self, inner):
        self.inner = inner
        self.session = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if "ticket" in query:
            scope = {**scope, "user": AnonymousUser(), "ws_ticket": query["ticket"][0]}
            return await self.inner(scope, receive, send)
        if "token" not in query:
            return await self.session(scope, receive, send)
        user = await database_sync_to_async(token_user)(query["token"][0])
        scope = {**scope, "user": user or AnonymousUser()}
        return await self.inner(scope, receive, send)
