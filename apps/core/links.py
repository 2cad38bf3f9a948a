"""Absolute links for e-mails, built in one place from SITE_URL.

Never from the request's Host header: a client chooses that header, and a reset link pointing
at its host would hand it the reset token (password-reset poisoning). `make run` sets SITE_URL
to the port it serves on.
"""

from django.conf import settings


def site_link(path: str) -> str:
    """`path` (from `reverse`) as an absolute URL on the public site."""
    return settings.SITE_URL.rstrip("/") + path
