"""Wallet writes: import, generate, watch, makers in bulk, edit, delete, ownership proof, export,
and re-wrapping data keys for a master-key rotation."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from apps.accounts.mfa import mfa_check
from apps.accounts.models import MAKERS_CEILING, User
from apps.chain.constants import LAMPORTS_PER_SOL
from apps.core.chain import chain_run
from apps.core.errors import Conflict, DomainError, ValidationFailed
from apps.core.services import audit_log
from apps.core.text import check_name
from apps.wallets import keystore
from apps.wallets.domain import Challenge, parse_address, parse_secret_key
from apps.wallets.models import UserKey, Wallet
from apps.wallets.selectors import (
    balances_cache_forget,
    verification_cache_key,
    wallet_get,
    wallet_in_use,
)

VERIFY_CHALLENGE_TTL = timedelta(minutes=10)
EXPORT_LIMIT = 5
EXPORT_WINDOW_SECONDS = 3600
# Maker rows per INSERT: 10,000 makers in a few statements of bounded size.
MAKERS_INSERT_BATCH = 2_000


class ExportThrottled(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, retry_after: int):
        super().__init__(
            f"Too many key exports. Try again in {max(1, retry_after // 60)} minute(s).",
        )
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------
# Create


def _duplicate(address: str) -> ValidationFailed:
    message = f"You already have the wallet {address}."
    return ValidationFailed(message, code="duplicate_wallet", fields={"address": [message]})


@sensitive_variables()
def _wallet_create_signing(
    *, owner: User, keypair: Keypair, kind: str, label: str, run_id: int | None = None
) -> Wallet:
    address = str(keypair.pubkey())
    check_name(label, field="label")
    if Wallet.objects.filter(owner=owner, address=address).exists():
        raise _duplicate(address)
    try:
        with transaction.atomic():
            user_key = keystore.user_key_create(owner=owner)
            wallet = Wallet.objects.create(
                owner=owner,
                address=address,
                kind=kind,
                label=label.strip(),
                encrypted_secret=keystore.encrypt_seed(
                    user_key=user_key, address=address, seed=keypair.secret()
                ),
                # We hold the key, so ownership is proven by construction.
                verified_at=timezone.now(),
                run_id=run_id,
            )
    except IntegrityError:
        # A concurrent import of the same key won the unique (owner, address) index.
        raise _duplicate(address) from None
    return wallet


@sensitive_variables("secret_key", "keypair")
def wallet_import(
    *, owner: User, secret_key: str, label: str = "", ip: str | None = None
) -> Wallet:
    """Import a custodial wallet from a pasted secret key (see domain.parse_secret_key)."""
    keypair = parse_secret_key(secret_key)
    with transaction.atomic():
        wallet = _wallet_create_signing(
            owner=owner, keypair=keypair, kind=Wallet.Kind.CUSTODIAL, label=label
        )
        audit_log(
            actor=owner, action="wallet.import", entity="wallet", entity_id=wallet.pk,
            metadata={"address": wallet.address}, ip=ip,
        )  # fmt: skip
    return wallet


def wallet_generate(*, owner: User, label: str = "", ip: str | None = None) -> Wallet:
    """Create a custodial wallet with a fresh random key."""
    with transaction.atomic():
        wallet = _wallet_create_signing(
            owner=owner, keypair=Keypair(), kind=Wallet.Kind.CUSTODIAL, label=label
        )
        audit_log(
            actor=owner, action="wallet.generate", entity="wallet", entity_id=wallet.pk,
            metadata={"address": wallet.address}, ip=ip,
        )  # fmt: skip
    return wallet


# Networks whose RPC hands out SOL for free (its `requestAirdrop`); never mainnet.
AIRDROP_NETWORKS = ("localnet", "devnet")
AIRDROP_SOL_CHOICES = (1, 2, 5)


def airdrop_available(*, network: str) -> bool:
    return network in AIRDROP_NETWORKS


def wallet_request_airdrop(
    *, owner: User, wallet_id: int, network: str, sol: int, ip: str | None = None
) -> str:
    """Ask `network`'s RPC to airdrop `sol` SOL to the wallet (localnet and devnet only);
    returns the airdrop's signature. The balance cache is dropped so the next read shows it."""
    wallet = wallet_get(owner=owner, wallet_id=wallet_id)
    if not airdrop_available(network=network):
        raise DomainError(
            f"SOL can only be requested on {' and '.join(AIRDROP_NETWORKS)}, not on {network}.",
            code="airdrop_unavailable",
        )
    if sol not in AIRDROP_SOL_CHOICES:
        message = f"Choose {', '.join(str(c) for c in AIRDROP_SOL_CHOICES)} SOL."
        raise ValidationFailed(message, fields={"sol": [message]})
    address = Pubkey.from_string(wallet.address)

    async def request(rpc):
        response = await rpc.call(
            "requestAirdrop", lambda c: c.request_airdrop(address, sol * LAMPORTS_PER_SOL)
        )
        return response.value

    signature = chain_run(network, request)
    balances_cache_forget(network=network, address=wallet.address)
    audit_log(
        actor=owner, action="wallet.airdrop", entity="wallet", entity_id=wallet.pk,
        metadata={"address": wallet.address, "network": network, "sol": sol,
                  "signature": str(signature)}, ip=ip,
    )  # fmt: skip
    return str(signature)


def wallet_watch(*, owner: User, address: str, label: str = "", ip: str | None = None) -> Wallet:
    """Add a watch-only wallet: an address without a key, unverified until proven."""
    address = str(parse_address(address))
    check_name(label, field="label")
    if Wallet.objects.filter(owner=owner, address=address).exists():
        raise _duplicate(address)
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(
                owner=owner, address=address, kind=Wallet.Kind.WATCH, label=label.strip()
            )
            audit_log(
                actor=owner, action="wallet.watch", entity="wallet", entity_id=wallet.pk,
                metadata={"address": address}, ip=ip,
            )  # fmt: skip
    except IntegrityError:
        raise _duplicate(address) from None
    return wallet


def wallets_create_makers(*, owner: User, run_id: int, count: int) -> list[Wallet]:
    """Generate `count` maker wallets for a campaign run and commit every encrypted key in one
    transaction. The run engine must call this (and let it commit) before it sends a single
    lamport to any of them: a funded wallet whose key was never stored is money lost.

    Fast enough for the largest run (`MAKERS_CEILING`): the owner's data key is unwrapped
    once for all the keys (`keystore.encrypt_seeds`) and the rows go in by batched INSERTs."""
    if not 1 <= count <= MAKERS_CEILING:
        raise ValidationFailed(
            f"Create between 1 and {MAKERS_CEILING} maker wallets at a time.",
            fields={"count": [f"Between 1 and {MAKERS_CEILING}."]},
        )
    with transaction.atomic():
        user_key = keystore.user_key_create(owner=owner)
        now = timezone.now()
        addresses, sealed = _maker_keys(user_key=user_key, count=count)
        wallets = [
            Wallet(owner=owner, address=address, kind=Wallet.Kind.MAKER, encrypted_secret=secret,
                   verified_at=now, run_id=run_id)
            for address, secret in zip(addresses, sealed, strict=True)
        ]  # fmt: skip
        created = Wallet.objects.bulk_create(wallets, batch_size=MAKERS_INSERT_BATCH)
        audit_log(
            actor=owner, action="wallet.create_makers", entity="run", entity_id=run_id,
            metadata={"count": count},
        )  # fmt: skip
    return created


@sensitive_variables()
def _maker_keys(*, user_key: UserKey, count: int) -> tuple[list[str], list[bytes]]:
    """`count` fresh keypairs: their addresses and their encrypted seeds (no plaintext kept)."""
    keypairs = [Keypair() for _ in range(count)]
    addresses = [str(keypair.pubkey()) for keypair in keypairs]
    sealed = keystore.encrypt_seeds(
        user_key=user_key,
        seeds=((address, kp.secret()) for address, kp in zip(addresses, keypairs, strict=True)),
    )
    keypairs.clear()
    return addresses, sealed


# ---------------------------------------------------------------------------------------------
# Edit and delete


def wallet_update(
    *,
    wallet_id: int,
    owner: User,
    label: str | None = None,
    active: bool | None = None,
    ip: str | None = None,
) -> Wallet:
    """Change the label and/or the active flag. Setting what is already there is a no-op."""
    with transaction.atomic():
        # Lock: two concurrent edits must not interleave their audit rows and writes.
        wallet = wallet_get(owner=owner, wallet_id=wallet_id, for_update=True)
        changes: dict[str, object] = {}
        if label is not None and label.strip() != wallet.label:
            if len(label.strip()) > 80:
                raise ValidationFailed(
                    "A label has at most 80 characters.", fields={"label": ["At most 80."]}
                )
            check_name(label, field="label")
            changes["label"] = label.strip()
        if active is not None and active != wallet.active:
            changes["active"] = active
        if changes:
            for field, value in changes.items():
                setattr(wallet, field, value)
            wallet.save(update_fields=[*changes, "updated_at"])
            audit_log(
                actor=owner, action="wallet.update", entity="wallet", entity_id=wallet.pk,
                metadata=changes, ip=ip,
            )  # fmt: skip
    return wallet


def _in_use() -> Conflict:
    return Conflict(
        "A campaign uses this wallet or it has trading history, so it cannot be deleted. "
        "Deactivate it instead.",
        code="wallet_in_use",
    )


def wallet_delete(*, wallet_id: int, owner: User, ip: str | None = None) -> None:
    """Delete a wallet (and, for a custodial one, its encrypted key), unless a campaign uses it."""
    with transaction.atomic():
        # Lock: a campaign starting concurrently must see the wallet either here or gone.
        wallet = wallet_get(owner=owner, wallet_id=wallet_id, for_update=True)
        if wallet_in_use(wallet=wallet):
            raise _in_use()
        try:
            # Savepoint: a refused delete must also roll back the audit row below.
            with transaction.atomic():
                audit_log(
                    actor=owner, action="wallet.delete", entity="wallet", entity_id=wallet.pk,
                    metadata={"address": wallet.address, "kind": wallet.kind}, ip=ip,
                )  # fmt: skip
                wallet.delete()
        except (ProtectedError, RestrictedError):
            # Other apps keep history that points at the wallet (RESTRICT/PROTECT foreign keys).
            raise _in_use() from None


# ---------------------------------------------------------------------------------------------
# Ownership proof


def wallet_verification_start(*, wallet_id: int, owner: User) -> Challenge | None:
    """Issue a one-time message for the owner to sign with the wallet's key (ed25519). None
    when the wallet is already verified (custodial and maker wallets are, by construction)."""
    wallet = wallet_get(owner=owner, wallet_id=wallet_id)
    if wallet.is_verified:
        return None
    expires_at = timezone.now() + VERIFY_CHALLENGE_TTL
    message = (
        "volumebot ownership proof\n"
        f"Wallet: {wallet.address}\n"
        f"Account: {owner.pk}\n"
        f"Nonce: {secrets.token_hex(16)}\n"
        f"Expires: {expires_at.replace(microsecond=0).isoformat()}"
    )
    challenge = Challenge(message=message, expires_at=expires_at)
    cache.set(
        verification_cache_key(wallet),
        {"message": message, "expires_at": expires_at.isoformat()},
        timeout=int(VERIFY_CHALLENGE_TTL.total_seconds()),
    )
    return challenge


def wallet_verification_complete(
    *, wallet_id: int, owner: User, signature: str, ip: str | None = None
) -> Wallet:
    """Check the signature over the issued message and mark the wallet verified."""
    wallet = wallet_get(owner=owner, wallet_id=wallet_id)
    if wallet.is_verified:
        return wallet
    pending = cache.get(verification_cache_key(wallet))
    if pending is None:
        raise ValidationFailed(
            "There is no open ownership challenge for this wallet (or it expired). "
            "Ask for a new message and sign that.",
            code="no_challenge",
            fields={"signature": ["Ask for a new message first."]},
        )
    try:
        parsed = Signature.from_string(signature.strip())
    except ValueError:
        raise ValidationFailed(
            "The signature must be 64 bytes in base58.",
            code="invalid_signature",
            fields={"signature": ["A base58 signature of 64 bytes."]},
        ) from None
    if not parsed.verify(Pubkey.from_string(wallet.address), pending["message"].encode()):
        raise ValidationFailed(
            "That signature is not this wallet's signature of the message.",
            code="invalid_signature",
            fields={"signature": ["Not a signature of the message by this wallet."]},
        )
    with transaction.atomic():
        # Lock and re-read: a double submit verifies (and audits) once.
        wallet = wallet_get(owner=owner, wallet_id=wallet_id, for_update=True)
        if wallet.verified_at is None:
            wallet.verified_at = timezone.now()
            wallet.save(update_fields=["verified_at", "updated_at"])
            audit_log(
                actor=owner, action="wallet.verify", entity="wallet", entity_id=wallet.pk,
                metadata={"address": wallet.address}, ip=ip,
            )  # fmt: skip
    # One signature per message: it cannot be replayed after this.
    cache.delete(verification_cache_key(wallet))
    return wallet


# ---------------------------------------------------------------------------------------------
# Export


def _export_throttle(owner: User) -> None:
    """At most EXPORT_LIMIT attempts (right or wrong password) per user per window: the
    password check must not become a way to guess passwords."""
    start_key, count_key = f"wallets:export:{owner.pk}:start", f"wallets:export:{owner.pk}:n"
    now = int(time.time())
    cache.add(start_key, now, timeout=EXPORT_WINDOW_SECONDS)
    cache.add(count_key, 0, timeout=EXPORT_WINDOW_SECONDS)
    try:
        attempts = cache.incr(count_key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(count_key, 1, timeout=EXPORT_WINDOW_SECONDS)
        attempts = 1
    if attempts > EXPORT_LIMIT:
        started = cache.get(start_key) or now
        raise ExportThrottled(retry_after=max(1, started + EXPORT_WINDOW_SECONDS - now))


@sensitive_variables("password", "otp_code")
def wallet_export(
    *, wallet_id: int, owner: User, password: str, otp_code: str, ip: str | None = None
) -> keystore.ExportedKey:
    """The wallet's secret key, for its owner, after the owner re-enters their password and a
    second-factor code (a stolen session or token is not enough). Throttled and audited: users
    must always be able to take their keys out, and every time they do is on record."""
    wallet = wallet_get(owner=owner, wallet_id=wallet_id)
    if not wallet.has_secret:
        raise Conflict("A watch-only wallet has no key to export.", code="no_secret")
    _export_throttle(owner)
    if not password or not owner.check_password(password):
        audit_log(
            actor=owner, action="wallet.export_refused", entity="wallet", entity_id=wallet.pk,
            metadata={"reason": "wrong password"}, ip=ip,
        )  # fmt: skip
        raise ValidationFailed(
            "That is not your password.",
            code="wrong_password",
            fields={"password": ["That is not your password."]},
        )
    mfa_check(user=owner, code=otp_code, action="wallet.export", ip=ip)
    with transaction.atomic():
        # Audit first, in the same transaction: no key leaves without its record.
        audit_log(
            actor=owner, action="wallet.export", entity="wallet", entity_id=wallet.pk,
            metadata={"address": wallet.address}, ip=ip,
        )  # fmt: skip
        exported = keystore.export_key(wallet)
    return exported


# ---------------------------------------------------------------------------------------------
# Master-key rotation


def master_key_rotation_record(
    *, old_fingerprint: str, new_fingerprint: str, outcomes: dict[str, int]
) -> None:
    """One audit row for a whole `rotate_master_key` run (each re-wrapped data key has its own
    `wallet.kek_rotate` row too): who can read every key is changed here, so it is on record
    even when nothing needed re-wrapping. Fingerprints only, never key material."""
    audit_log(
        actor=None, action="keystore.master_key_rotate", entity="master_key",
        entity_id=new_fingerprint,
        metadata={"from": old_fingerprint, "to": new_fingerprint, **outcomes},
    )  # fmt: skip


def user_key_rewrap(
    *,
    user_key_id: int,
    old: keystore.AnyMasterKey,
    new: keystore.AnyMasterKey,
    actor: User | None = None,
    ip: str | None = None,
) -> str:
    """Re-wrap one data key from `old` to `new` in its own transaction. Returns "rewrapped",
    "skipped" (already on `new`: a resumed rotation), "gone" or "unknown" (wrapped by neither)."""
    with transaction.atomic():
        # Lock: a concurrent rotation of the same row waits here and then sees it done.
        user_key = UserKey.objects.select_for_update().filter(pk=user_key_id).first()
        if user_key is None:
            return "gone"
        if user_key.kek_fingerprint == new.fingerprint:
            return "skipped"
        if user_key.kek_fingerprint != old.fingerprint:
            return "unknown"
        user_key.wrapped_dek = keystore.rewrap(
            wrapped=bytes(user_key.wrapped_dek), owner_id=user_key.owner_id, old=old, new=new
        )
        user_key.kek_fingerprint = new.fingerprint
        user_key.rotated_at = timezone.now()
        user_key.save(update_fields=["wrapped_dek", "kek_fingerprint", "rotated_at"])
        audit_log(
            actor=actor, action="wallet.kek_rotate", entity="user_key", entity_id=user_key.pk,
            metadata={"owner_id": user_key.owner_id, "from": old.fingerprint,
                      "to": new.fingerprint}, ip=ip,
        )  # fmt: skip
    return "rewrapped"


def user_keys_rewrap_current(
    *, user_key_ids: list[int], actor: User, ip: str | None = None
) -> dict[str, int]:
    """Re-wrap the given data keys under the current master key, each from whichever key of
    this process's keyring wrapped it (the operator console's way to finish a rotation).
    Returns how many were re-wrapped, already current, gone or wrapped by a key not held."""
    keyring = keystore.master_keyring()
    current = keystore.current_master_key()
    outcomes = {"rewrapped": 0, "skipped": 0, "gone": 0, "unknown": 0}
    wrapped_by = dict(
        UserKey.objects.filter(pk__in=user_key_ids).values_list("pk", "kek_fingerprint")
    )
    for user_key_id in sorted(user_key_ids):
        old = keyring.get(wrapped_by.get(user_key_id, ""))
        if user_key_id not in wrapped_by:
            outcome = "gone"
        elif old is None:
            outcome = "unknown"
        else:
            outcome = user_key_rewrap(
                user_key_id=user_key_id, old=old, new=current, actor=actor, ip=ip
            )
        outcomes[outcome] += 1
    return outcomes
