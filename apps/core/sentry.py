"""Sentry: on when SENTRY_DSN is set (called from settings), with secrets scrubbed.

Scrubbing happens in `before_send` (errors) and `before_send_transaction` (traces): every key
that names a secret is replaced wherever it appears — request data, headers, cookies, extra,
contexts, breadcrumbs — and frame locals are dropped entirely, since a signing function's
locals are exactly where a decrypted key would sit.
"""

import re
from collections.abc import Mapping
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

FILTERED = "[Filtered]"
# Substrings of key names whose values never leave the process (compared case-insensitively).
SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "encrypted_secret",
    "wrapped_dek",
    "master_key",
    "private_key",
    "authorization",
    "cookie",
    "csrf",
    "sessionid",
    "api_key",
    "apikey",
    "dsn",
)
# "token" alone or as a suffix (access_token, csrftoken), not token_delta_raw or token_in_raw.
_TOKEN_KEY = re.compile(r"token$")


def is_secret_key(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return any(part in name for part in SECRET_KEY_PARTS) or bool(_TOKEN_KEY.search(name))


def scrub(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced (recursively)."""
    if isinstance(value, Mapping):
        return {k: FILTERED if is_secret_key(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Header lists come as [[name, value], …] pairs.
        if all(isinstance(item, list | tuple) and len(item) == 2 for item in value) and value:
            return [[k, FILTERED if is_secret_key(k) else scrub(v)] for k, v in value]
        return [scrub(item) for item in value]
    return value


def _drop_frame_locals(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def before_send(event: dict, hint: dict | None = None) -> dict:
    """Scrub an event in place of sending it as captured."""
    _drop_frame_locals(event)
    for key in ("request", "extra", "contexts", "tags", "user"):
        if key in event:
            event[key] = scrub(event[key])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, Mapping) and "values" in breadcrumbs:
        event["breadcrumbs"] = {**breadcrumbs, "values": scrub(breadcrumbs["values"])}
    elif isinstance(breadcrumbs, list):
        event["breadcrumbs"] = scrub(breadcrumbs)
    request = event.get("request")
    query = request.get("query_string") if isinstance(request, dict) else None
    # A secret in a query string cannot be cut out reliably: drop the whole string.
    if isinstance(query, str) and any(
        is_secret_key(part.split("=", 1)[0]) for part in query.split("&")
    ):
        request["query_string"] = FILTERED
    return event


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float = 0.0) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=False),
            LoggingIntegration(),
        ],
        traces_sample_rate=traces_sample_rate,
        # Never attach request bodies, cookies or user e-mails; ids come from our own context.
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,
        before_send_transaction=before_send,
    )
