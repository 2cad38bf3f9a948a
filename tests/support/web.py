"""Credentials for API clients (a bearer token) and WebSocket sessions (a session cookie)."""

from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

ORIGIN = (b"origin", b"http://testserver")


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}


def session_headers(user) -> list[tuple[bytes, bytes]]:
    """A signed-in session's cookie (and the site's origin) for a WebSocket handshake."""
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]
