"""Signing a delivery, the recipe the docs page and README give receivers:

signed  = f"{timestamp}.{body}"            (timestamp: the X-Volumebot-Timestamp header)
digest  = HMAC-SHA256(secret, signed).hexdigest()
header  = X-Volumebot-Signature: v1=<digest>
"""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Volumebot-Signature"
TIMESTAMP_HEADER = "X-Volumebot-Timestamp"
EVENT_ID_HEADER = "X-Volumebot-Event-Id"
EVENT_TYPE_HEADER = "X-Volumebot-Event"


def secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(*, secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (also the docs' snippet, in Python)."""
    expected = sign(secret=secret, timestamp=int(timestamp), body=body)
    return hmac.compare_digest(expected, signature)
