"""Personal API keys: create (the key is shown once), list, revoke, and authenticate.

A key is `vbk_<prefix>_<secret>`: the prefix (public) finds the row, the SHA-256 of the whole key
is compared in constant time. A key works until it expires or is revoked, and only while its
owner's account is active. Scope `read` allows the safe methods (GET, HEAD, OPTIONS) only;
`trade` allows every write the API allows. Keys cannot manage keys: a leaked key must not be
able to mint itself a successor (those endpoints take a signed-in session or a JWT).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apps.accounts.models import ApiKey, ApiKeyScope, User
from apps.core.errors import NotFound, ValidationFailed
from apps.core.services import audit_log
from apps.core.text import check_name

KEY_PREFIX = "vbk_"
# last_used_at is written at most this often per key: not a database write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(
    *, owner: User, name: str, scope: str, expires_in_days: int, ip: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the raw key, which is never stored nor shown again."""
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the key a name.", fields={"name": ["Give the key a name."]})
    check_name(name, field="name")
    if scope not in ApiKeyScope.values:
        raise ValidationFailed("Choose read or trade.", fields={"scope": ["Choose read or trade."]})
    longest = settings.API_KEY_MAX_DAYS
    if not 1 <= expires_in_days <= longest:
        message = f"A key lasts 1 to {longest} days."
        raise ValidationFailed(message, fields={"expires_in_days": [message]})
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            owner=owner, name=name, prefix=prefix, key_hash=_hash(raw), scope=scope,
            expires_at=timezone.now() + timedelta(days=expires_in_days),
        )  # fmt: skip
        audit_log(
            actor=owner, action="api_key.create", entity="api_key", entity_id=key.pk,
            metadata={"name": name, "scope": scope, "prefix": prefix}, ip=ip,
        )  # fmt: skip
    return key, raw


def api_key_list(*, owner: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(owner=owner).order_by("-created_at", "-pk")


def api_key_revoke(*, owner: User, key_id: int, ip: str | None = None) -> ApiKey:
    """Revoke one of the owner's keys at once. Revoking a revoked key is a no-op."""
    with transaction.atomic():
        # Locked: two revocations write one audit row.
        key = ApiKey.objects.select_for_update().filter(owner=owner, pk=key_id).first()
        if key is None:
            raise NotFound("No such API key.")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_log(
                actor=owner, action="api_key.revoke", entity="api_key", entity_id=key.pk,
                metadata={"prefix": key.prefix}, ip=ip,
            )  # fmt: skip
    return key


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The live key `raw` is, with its owner; None for anything else (unknown, wrong secret,
    expired, revoked, owner suspended). Records when it was last used."""
    if not raw.startswith(KEY_PREFIX):
        return None
    prefix = raw[len(KEY_PREFIX) :].split("_", 1)[0]
    now = timezone.now()
    key = (
        ApiKey.objects.select_related("owner")
        .filter(prefix=prefix, revoked_at__isnull=True, expires_at__gt=now, owner__is_active=True)
        .first()
    )
    if key is None or not constant_time_compare(key.key_hash, _hash(raw)):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
