"""One signed POST to a webhook URL: connects to the address the SSRF guard checked (never a
second lookup), never follows redirects, always with a timeout. The outcome says whether a
retry may help."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils import timezone

from apps.webhooks import signing
from apps.webhooks.ssrf import Target, UnsafeUrl, check_url


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    retry_after_s: float | None = None


def body_bytes(*, event_id: str, event_type: str, created_at: str, data: dict) -> bytes:
    payload = {"id": event_id, "type": event_type, "created_at": created_at, "data": data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _connect_url(url: str, target: Target) -> httpx.URL:
    return httpx.URL(url).copy_with(host=target.ip)


def post(*, url: str, secret: str, event_id: str, event_type: str, body: bytes) -> Outcome:
    try:
        target = check_url(url)
    except UnsafeUrl as error:
        return Outcome(ok=False, retryable=error.transient, error=error.message)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "volumebot-webhooks/1",
        "Host": httpx.URL(url).netloc.decode(),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.sign(secret=secret, timestamp=timestamp, body=body),
        signing.EVENT_ID_HEADER: event_id,
        signing.EVENT_TYPE_HEADER: event_type,
    }
    # TLS is verified against the URL's host name, while the socket goes to the checked address.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.WEBHOOKS_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST", _connect_url(url, target), content=body, headers=headers,
                extensions=extensions,
            )  # fmt: skip
            response = client.send(request)
    except httpx.TimeoutException:
        latency = int((time.monotonic() - started) * 1000)
        return Outcome(ok=False, retryable=True, latency_ms=latency, error="Timed out.")
    except httpx.TransportError as error:
        latency = int((time.monotonic() - started) * 1000)
        message = f"Connection failed: {type(error).__name__}: {error}"[:500]
        return Outcome(ok=False, retryable=True, latency_ms=latency, error=message)
    latency = int((time.monotonic() - started) * 1000)
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(ok=True, retryable=False, status_code=code, latency_ms=latency)
    if code == 429 or code >= 500:
        return Outcome(
            ok=False, retryable=True, status_code=code, latency_ms=latency,
            error=f"HTTP {code}", retry_after_s=_retry_after(response.headers.get("Retry-After")),
        )  # fmt: skip
    return Outcome(
        ok=False, retryable=False, status_code=code, latency_ms=latency, error=f"HTTP {code}"
    )
