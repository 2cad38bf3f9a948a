"""Envelope encryption of wallet secrets (AES-256-GCM, `cryptography`).

    master key (KEK, from the environment) ──wraps──▶ per-user data key (DEK, UserKey row)
    DEK ──encrypts──▶ each wallet's 32-byte ed25519 seed (Wallet.encrypted_secret)

Every ciphertext is `version byte ‖ 12-byte nonce ‖ AES-GCM(ciphertext ‖ tag)`, and its
associated data binds it to where it lives: a wrapped DEK to its owner, a wallet secret to its
owner *and* address. A ciphertext copied to another row therefore fails authentication instead
of decrypting into the wrong wallet.

Plaintext keys exist only inside `wallet_signer()` (and the one export the owner asks for): the
rest of the platform handles a `WalletSigner`, never key bytes. Nothing here puts key material
into an exception message, a repr or a log line.

The master key comes from a provider chosen by `WALLET_MASTER_KEY_PROVIDER`: `env` (the key
itself in `WALLET_MASTER_KEY` or the file named by `WALLET_MASTER_KEY_FILE`) or `aws-kms` (a KMS
key named by `WALLET_KMS_KEY_ID` wraps and unwraps the data keys; see kms.py). A master key is
looked up by fingerprint (for a local key an HMAC of a constant under the key, which reveals
nothing about it; for a KMS key a hash of its ARN). During a rotation the previous key
(`WALLET_MASTER_KEY_PREVIOUS` and/or `WALLET_KMS_KEY_ID_PREVIOUS`) is held too, whichever the
provider, so a rotation can also move the data keys from one provider to the other.
`master_key_check()` runs as a system check and when a Celery worker starts, so a wrong master key
stops the process at start-up instead of failing at signing time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from apps.wallets.kms import KmsError, KmsMasterKey, dek_cache_clear, kms_master_key

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.wallets.models import UserKey, Wallet

FORMAT_V1 = 1
_NONCE_BYTES = 12
_DEK_AAD = b"volumebot/user-dek/v1\x00"
_SECRET_AAD = b"volumebot/wallet-secret/v1\x00"
_OWNER_SECRET_AAD = b"volumebot/owner-secret/v1\x00"
_FINGERPRINT_INPUT = b"volumebot/kek-fingerprint/v1"


class KeystoreError(Exception):
    """A key could not be unwrapped or decrypted. The message names the row, never a key."""


# ---------------------------------------------------------------------------------------------
# Master keys (KEK)


class MasterKey:
    """A 32-byte master key. Its repr shows only the fingerprint."""

    __slots__ = ("_key", "fingerprint")

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("a master key is 32 bytes")
        self._key = key
        self.fingerprint = hmac.new(key, _FINGERPRINT_INPUT, hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"<MasterKey {self.fingerprint}>"

    __str__ = __repr__

    @classmethod
    def from_base64(cls, value: str, *, name: str) -> MasterKey:
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            # The value itself is never echoed: a near-miss is still most of a secret.
            raise ImproperlyConfigured(
                f"{name} must be 32 random bytes, base64-encoded (e.g. the output of "
                "`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`)."
            )
        return cls(raw)

    def wrap(self, dek: bytes, *, owner_id: int) -> bytes:
        return _seal(self._key, dek, _DEK_AAD + str(owner_id).encode())

    def unwrap(self, wrapped: bytes, *, owner_id: int) -> bytes:
        return _open(self._key, wrapped, _DEK_AAD + str(owner_id).encode())


PROVIDER_ENV = "env"
PROVIDER_AWS_KMS = "aws-kms"
AnyMasterKey = MasterKey | KmsMasterKey


def master_key_setting() -> str:
    """The setting that names the current master key, for messages."""
    if settings.WALLET_MASTER_KEY_PROVIDER == PROVIDER_AWS_KMS:
        return "WALLET_KMS_KEY_ID"
    return "WALLET_MASTER_KEY"


def current_master_key() -> AnyMasterKey:
    """The master key new data keys are wrapped with, from the configured provider."""
    name = master_key_setting()
    if settings.WALLET_MASTER_KEY_PROVIDER == PROVIDER_AWS_KMS:
        if not settings.WALLET_KMS_KEY_ID:
            raise ImproperlyConfigured(f"{name} is not set: wallet keys cannot be used.")
        return kms_master_key(settings.WALLET_KMS_KEY_ID)
    value = settings.WALLET_MASTER_KEY
    if not value:
        raise ImproperlyConfigured(f"{name} is not set: wallet keys cannot be used.")
    return MasterKey.from_base64(value, name=name)


def master_keyring() -> dict[str, AnyMasterKey]:
    """Every master key this process holds, by fingerprint: the current one, and during a
    rotation the previous one(s), so workers keep signing while rows move to the new key."""
    current = current_master_key()
    keyring = {current.fingerprint: current}
    previous = getattr(settings, "WALLET_MASTER_KEY_PREVIOUS", "")
    if previous:
        old = MasterKey.from_base64(previous, name="WALLET_MASTER_KEY_PREVIOUS")
        keyring.setdefault(old.fingerprint, old)
    previous_kms = getattr(settings, "WALLET_KMS_KEY_ID_PREVIOUS", "")
    if previous_kms:
        old_kms = kms_master_key(previous_kms)
        keyring.setdefault(old_kms.fingerprint, old_kms)
    return keyring


def master_key_from(
    *, env: str | None = None, file: str | None = None, kms_key_id: str | None = None
) -> AnyMasterKey:
    """A master key named by an environment variable, a file or a KMS key id (for
    rotate_master_key); a local key never from the command line, where `ps` would show it."""
    if sum(map(bool, (env, file, kms_key_id))) != 1:
        raise ImproperlyConfigured(
            "Give exactly one of an environment variable, a file or a KMS key."
        )
    if kms_key_id:
        return kms_master_key(kms_key_id)
    if env:
        value = os.environ.get(env, "")
        if not value:
            raise ImproperlyConfigured(f"The environment variable {env} is empty or not set.")
        return MasterKey.from_base64(value, name=env)
    try:
        value = Path(file).read_text()
    except OSError as error:
        raise ImproperlyConfigured(f"Cannot read {file}: {error.strerror}.") from None
    return MasterKey.from_base64(value, name=file)


# ---------------------------------------------------------------------------------------------
# AES-GCM envelope


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return _seal_with(AESGCM(key), plaintext, aad)


def _seal_with(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return bytes([FORMAT_V1]) + nonce + aead.encrypt(nonce, plaintext, aad)


@sensitive_variables()
def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    blob = bytes(blob)
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != FORMAT_V1:
        raise KeystoreError("Unknown ciphertext format.")
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise KeystoreError("Decryption failed: wrong key, or the ciphertext was moved.") from None


def _secret_aad(*, owner_id: int, address: str) -> bytes:
    return _SECRET_AAD + str(owner_id).encode() + b"\x00" + address.encode()


# ---------------------------------------------------------------------------------------------
# Data keys (DEK)


def user_key_create(*, owner: User) -> UserKey:
    """Return the owner's UserKey, creating it (a fresh DEK under the current master key) if
    needed. Call inside the transaction that stores the first secret it protects."""
    from apps.wallets.models import UserKey

    existing = UserKey.objects.filter(owner=owner).first()
    if existing is not None:
        return existing
    master = current_master_key()
    wrapped = _wrap(master, AESGCM.generate_key(bit_length=256), owner_id=owner.pk)
    # get_or_create: two first imports racing for the same user end with one DEK (the loser's
    # insert hits the unique owner index and re-reads the winner's row).
    user_key, _ = UserKey.objects.get_or_create(
        owner=owner,
        defaults={
            "wrapped_dek": wrapped,
            "kek_fingerprint": master.fingerprint,
            "version": FORMAT_V1,
        },
    )
    return user_key


@sensitive_variables()
def _dek(user_key: UserKey) -> bytes:
    master = master_keyring().get(user_key.kek_fingerprint)
    if master is None:
        raise KeystoreError(
            f"The data key of user {user_key.owner_id} is wrapped by master key "
            f"{user_key.kek_fingerprint}, which this process does not have."
        )
    return _unwrap(master, bytes(user_key.wrapped_dek), owner_id=user_key.owner_id)


@sensitive_variables()
def _wrap(master: AnyMasterKey, dek: bytes, *, owner_id: int) -> bytes:
    try:
        return master.wrap(dek, owner_id=owner_id)
    except KmsError as error:
        raise KeystoreError(str(error)) from None


@sensitive_variables()
def _unwrap(master: AnyMasterKey, wrapped: bytes, *, owner_id: int) -> bytes:
    try:
        return master.unwrap(wrapped, owner_id=owner_id)
    except KmsError as error:
        raise KeystoreError(str(error)) from None


@sensitive_variables()
def encrypt_seed(*, user_key: UserKey, address: str, seed: bytes) -> bytes:
    """Encrypt a wallet's 32-byte seed under its owner's DEK, bound to (owner, address)."""
    return encrypt_seeds(user_key=user_key, seeds=[(address, seed)])[0]


@sensitive_variables()
def encrypt_seeds(*, user_key: UserKey, seeds: Iterable[tuple[str, bytes]]) -> list[bytes]:
    """`encrypt_seed` for many (address, seed) pairs of one owner: the DEK is unwrapped once
    (one KMS call at most) and one AES-GCM context seals them all, each with its own nonce
    and its own (owner, address) binding, so 10,000 maker keys cost one unwrap."""
    aead = AESGCM(_dek(user_key))
    return [
        _seal_with(aead, seed, _secret_aad(owner_id=user_key.owner_id, address=address))
        for address, seed in seeds
    ]


@sensitive_variables()
def encrypt_owner_secret(*, owner: User, purpose: str, plaintext: bytes) -> bytes:
    """Encrypt another secret of the owner's (e.g. a webhook signing secret) under their DEK,
    bound to (owner, purpose) so the ciphertext cannot be moved to another row or owner."""
    user_key = user_key_create(owner=owner)
    return _seal(_dek(user_key), plaintext, _owner_secret_aad(owner_id=owner.pk, purpose=purpose))


@sensitive_variables()
def decrypt_owner_secret(*, owner_id: int, purpose: str, ciphertext: bytes) -> bytes:
    from apps.wallets.models import UserKey

    user_key = UserKey.objects.filter(owner_id=owner_id).first()
    if user_key is None:
        raise KeystoreError(f"User {owner_id} has no data key.")
    aad = _owner_secret_aad(owner_id=owner_id, purpose=purpose)
    return _open(_dek(user_key), bytes(ciphertext), aad)


def _owner_secret_aad(*, owner_id: int, purpose: str) -> bytes:
    return _OWNER_SECRET_AAD + str(owner_id).encode() + b"\x00" + purpose.encode()


@sensitive_variables()
def _keypair(wallet: Wallet, user_key: UserKey | None) -> Keypair:
    """`user_key`: the owner's, as read by the caller (None: the owner has none)."""
    if wallet.encrypted_secret is None:
        raise KeystoreError(f"Wallet {wallet.pk} is watch-only: it has no key.")
    if user_key is None:
        raise KeystoreError(f"The owner of wallet {wallet.pk} has no data key.")
    aad = _secret_aad(owner_id=wallet.owner_id, address=wallet.address)
    try:
        seed = _open(_dek(user_key), bytes(wallet.encrypted_secret), aad)
    except KeystoreError as error:
        raise KeystoreError(f"The key of wallet {wallet.pk} cannot be decrypted: {error}") from None
    keypair = Keypair.from_seed(seed)
    if str(keypair.pubkey()) != wallet.address:  # cannot happen while the AAD holds; be sure
        raise KeystoreError(f"The key of wallet {wallet.pk} does not match its address.")
    return keypair


def rewrap(*, wrapped: bytes, owner_id: int, old: AnyMasterKey, new: AnyMasterKey) -> bytes:
    """The same DEK, wrapped by `new` instead of `old` (rotate_master_key)."""
    return _wrap(new, _unwrap(old, bytes(wrapped), owner_id=owner_id), owner_id=owner_id)


# ---------------------------------------------------------------------------------------------
# Signing


class WalletSigner:
    """Signs for one wallet inside a `wallet_signer()` block, and refuses afterwards.

    `keypair` is for building transactions with several signers
    (`VersionedTransaction(message, [a.keypair, b.keypair])`); use it inside the block and do
    not keep it. repr/str show the address only."""

    __slots__ = ("_keypair", "address")

    def __init__(self, address: str, keypair: Keypair):
        self.address = address
        self._keypair: Keypair | None = keypair

    def __repr__(self) -> str:
        state = "open" if self._keypair is not None else "closed"
        return f"<WalletSigner {self.address} {state}>"

    __str__ = __repr__

    def __reduce__(self):
        # Never into a task payload, a cache or a pickle of any kind.
        raise TypeError("A WalletSigner cannot be serialized.")

    def _close(self) -> None:
        self._keypair = None

    @property
    def keypair(self) -> Keypair:
        if self._keypair is None:
            raise KeystoreError("This signer was used outside its `wallet_signer()` block.")
        return self._keypair

    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()

    def sign_message(self, message: bytes) -> Signature:
        return self.keypair.sign_message(message)

    def sign_transaction(self, message: Message | MessageV0) -> VersionedTransaction:
        """A transaction with this wallet as its only signer."""
        return VersionedTransaction(message, [self.keypair])


@contextlib.contextmanager
def wallet_signer(wallet: Wallet) -> Iterator[WalletSigner]:
    """Decrypt `wallet`'s key for the duration of the block:

    with wallet_signer(wallet) as signer:
        tx = signer.sign_transaction(message)
    """
    with wallet_signers([wallet]) as signers:
        yield signers[wallet.pk]


@contextlib.contextmanager
def wallet_signers(wallets: Iterable[Wallet]) -> Iterator[dict[int, WalletSigner]]:
    """`wallet_signer` for several wallets at once, by wallet id: their owners' data keys are
    read in one query (a batch of trades signs for many makers of one owner)."""
    from apps.wallets.models import UserKey

    wallets = list(wallets)
    owners = {wallet.owner_id for wallet in wallets}
    user_keys = {key.owner_id: key for key in UserKey.objects.filter(owner_id__in=owners)}
    signers: dict[int, WalletSigner] = {}
    try:
        for wallet in wallets:
            keypair = _keypair(wallet, user_keys.get(wallet.owner_id))
            signers[wallet.pk] = WalletSigner(wallet.address, keypair)
        yield signers
    finally:
        for signer in signers.values():
            signer._close()


def sign_with(
    wallet: Wallet, payload: bytes | Message | MessageV0
) -> Signature | VersionedTransaction:
    """Sign raw message bytes (→ Signature) or a transaction message (→ VersionedTransaction)."""
    with wallet_signer(wallet) as signer:
        if isinstance(payload, bytes | bytearray):
            return signer.sign_message(bytes(payload))
        return signer.sign_transaction(payload)


class ExportedKey:
    """A wallet's secret key in the two usual formats, for the owner's one explicit export."""

    __slots__ = ("address", "base58", "json_array")

    def __init__(self, address: str, keypair: Keypair):
        self.address = address
        self.base58 = str(keypair)  # solders: base58 of the 64-byte secret ‖ public key
        self.json_array = list(bytes(keypair))

    def __repr__(self) -> str:
        return f"<ExportedKey {self.address}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("An exported key cannot be serialized.")


def export_key(wallet: Wallet) -> ExportedKey:
    """Decrypt the key for export. Only `services.wallet_export` calls this (password, throttle
    and audit happen there)."""
    with wallet_signer(wallet) as signer:
        return ExportedKey(wallet.address, signer.keypair)


# ---------------------------------------------------------------------------------------------
# Start-up check


def master_key_problems() -> tuple[list[str], list[str]]:
    """(errors, warnings) about the configured master key(s) against the stored data keys.

    Errors: the key is missing or malformed; some data key is wrapped by a master key this
    process does not hold; or a held key fails to unwrap its own rows (checked on one row per
    key, which is enough to catch a wrong or corrupted key without reading every row)."""
    from django.db import DatabaseError
    from django.db.models import Count

    from apps.wallets.models import UserKey

    try:
        keyring = master_keyring()
    except ImproperlyConfigured as error:
        return [str(error)], []
    try:
        counts = dict(
            UserKey.objects.order_by().values_list("kek_fingerprint").annotate(n=Count("id"))
        )
        samples = [
            UserKey.objects.filter(kek_fingerprint=fingerprint).order_by("pk").first()
            for fingerprint in counts
            if fingerprint in keyring
        ]
    except DatabaseError:
        # No database yet, or not migrated: then no data key exists for the key to miss.
        return [], []
    errors, warnings = [], []
    setting = master_key_setting()
    previous = f"{setting}_PREVIOUS"
    unknown = {fp: n for fp, n in counts.items() if fp not in keyring}
    if unknown:
        total = sum(unknown.values())
        errors.append(
            f"{setting} is not the master key that wrapped {total} stored wallet data "
            f"key(s) (master key fingerprint(s) {', '.join(sorted(unknown))}; this process holds "
            f"{', '.join(sorted(keyring))}). Signing would fail: set the right key, or during a "
            f"rotation the old one as {previous}."
        )
    dek_cache_clear()  # ask KMS itself: a key disabled since the last unwrap must show here
    for sample in samples:
        try:
            _dek(sample)
        except KeystoreError:
            errors.append(
                f"The master key {sample.kek_fingerprint} does not unwrap the data key of user "
                f"{sample.owner_id}: the key or the row is corrupted."
            )
    current = current_master_key().fingerprint
    behind = sum(n for fp, n in counts.items() if fp in keyring and fp != current)
    if behind:
        warnings.append(
            f"{behind} wallet data key(s) are still wrapped by a previous master key: "
            "run `python manage.py rotate_master_key`, then unset it."
        )
    return errors, warnings
