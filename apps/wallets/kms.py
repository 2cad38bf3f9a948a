"""The master key held by AWS KMS: data keys are wrapped and unwrapped by KMS Encrypt and
Decrypt, so the key itself never leaves KMS and never reaches this process.

Each wrapped data key is bound to its owner through the KMS encryption context (the AAD of the
local provider, see keystore.py): a wrapped key copied to another user's row does not decrypt.
Credentials come from boto3's usual chain (AWS_* variables, an instance or pod role). Errors are
reported by their KMS error code, which names no key material.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

_CONTEXT_PURPOSE = "volumebot/user-dek/v1"
_CACHE_MAX_ENTRIES = 10_000

# Unwrapped data keys, for WALLET_KMS_DEK_CACHE_SECONDS: a batch of trades (or of new maker
# wallets) needs the same user's data key many times within a second, and one KMS round trip
# each would put KMS latency and request charges on every signature. Kept in this process's
# memory only, as the local provider keeps its master key.
_dek_cache: dict[bytes, tuple[float, bytes]] = {}
_dek_cache_lock = threading.Lock()


def dek_cache_clear() -> None:
    """Forget every cached data key (the start-up check asks KMS itself)."""
    with _dek_cache_lock:
        _dek_cache.clear()


class KmsError(Exception):
    """KMS refused or could not be reached; the message is the KMS error code."""


@functools.cache
def _client(region: str, endpoint_url: str):
    # Bounded timeouts and boto3's standard retries (transient errors only): a KMS that does
    # not answer fails the signing, it does not hang a worker.
    return boto3.client(
        "kms",
        region_name=region or None,
        endpoint_url=endpoint_url or None,
        config=Config(
            connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
        ),
    )


def kms_client():
    return _client(settings.WALLET_KMS_REGION, settings.WALLET_KMS_ENDPOINT_URL)


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return type(error).__name__


def _context(owner_id: int) -> dict[str, str]:
    return {"purpose": _CONTEXT_PURPOSE, "owner_id": str(owner_id)}


class KmsMasterKey:
    """A KMS key used as the master key. Same interface as keystore.MasterKey: `fingerprint`
    (from the key's ARN: two aliases of one key are one master key), `wrap`, `unwrap`."""

    __slots__ = ("arn", "fingerprint")

    def __init__(self, key_id: str):
        try:
            metadata = kms_client().describe_key(KeyId=key_id)["KeyMetadata"]
        except (BotoCoreError, ClientError) as error:
            raise ImproperlyConfigured(
                f"The KMS key {key_id} cannot be used as the master key: {_reason(error)}."
            ) from None
        self.arn = metadata["Arn"]
        self.fingerprint = "kms-" + hashlib.sha256(self.arn.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"<KmsMasterKey {self.fingerprint} {self.arn}>"

    __str__ = __repr__

    @sensitive_variables()
    def wrap(self, dek: bytes, *, owner_id: int) -> bytes:
        try:
            answer = kms_client().encrypt(
                KeyId=self.arn, Plaintext=dek, EncryptionContext=_context(owner_id)
            )
        except (BotoCoreError, ClientError) as error:
            raise KmsError(f"KMS Encrypt failed: {_reason(error)}.") from None
        return answer["CiphertextBlob"]

    @sensitive_variables()
    def unwrap(self, wrapped: bytes, *, owner_id: int) -> bytes:
        wrapped = bytes(wrapped)
        ttl = settings.WALLET_KMS_DEK_CACHE_SECONDS
        slot = hashlib.sha256(f"{self.arn}\x00{owner_id}\x00".encode() + wrapped).digest()
        now = time.monotonic()
        with _dek_cache_lock:
            cached = _dek_cache.get(slot)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            answer = kms_client().decrypt(
                KeyId=self.arn, CiphertextBlob=wrapped, EncryptionContext=_context(owner_id)
            )
        except (BotoCoreError, ClientError) as error:
            raise KmsError(f"KMS Decrypt failed: {_reason(error)}.") from None
        dek = answer["Plaintext"]
        if ttl > 0:
            with _dek_cache_lock:
                if len(_dek_cache) >= _CACHE_MAX_ENTRIES:
                    _dek_cache.clear()
                _dek_cache[slot] = (now + ttl, dek)
        return dek


@functools.cache
def _kms_master_key(key_id: str, region: str, endpoint_url: str) -> KmsMasterKey:
    return KmsMasterKey(key_id)


def kms_master_key(key_id: str) -> KmsMasterKey:
    """The master key for a KMS key id, ARN or alias; described once per process (a failed
    description is not kept, so a fixed permission is seen on the next call)."""
    return _kms_master_key(key_id, settings.WALLET_KMS_REGION, settings.WALLET_KMS_ENDPOINT_URL)
