"""The master key held by AWS KMS, against moto's KMS in this process (no network): data keys
wrapped by KMS Encrypt under the owner's encryption context, the wrong or a disabled key
refusing start-up, and rotations KMS → KMS and local key → KMS, resumable."""

import base64

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from moto import mock_aws
from solders.keypair import Keypair

from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.checks import master_key_check, verify_master_key_or_exit
from apps.wallets.kms import KmsMasterKey, dek_cache_clear
from apps.wallets.models import UserKey, Wallet
from apps.wallets.services import wallet_import

pytestmark = pytest.mark.django_db

REGION = "eu-central-1"


@pytest.fixture
def kms(monkeypatch, settings):
    """moto's KMS, with fake credentials (so boto3 never looks for real ones) and the provider
    set to aws-kms on a fresh key."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    dek_cache_clear()
    with mock_aws():
        client = boto3.client("kms", region_name=REGION)
        settings.WALLET_MASTER_KEY_PROVIDER = "aws-kms"
        settings.WALLET_KMS_REGION = REGION
        settings.WALLET_KMS_KEY_ID = client.create_key(Description="volumebot test")["KeyMetadata"][
            "KeyId"
        ]
        yield client
    dek_cache_clear()


def _new_key(client) -> str:
    return client.create_key()["KeyMetadata"]["KeyId"]


def test_it_wraps_data_keys_with_kms_and_signs(kms, settings, alice):
    keypair = Keypair()

    wallet = wallet_import(owner=alice, secret_key=str(keypair))

    user_key = UserKey.objects.get(owner=alice)
    master = keystore.current_master_key()
    assert isinstance(master, KmsMasterKey)
    assert user_key.kek_fingerprint == master.fingerprint
    assert user_key.kek_fingerprint.startswith("kms-") and len(user_key.kek_fingerprint) == 16
    # KMS itself decrypts the stored blob, and only under alice's encryption context.
    plain = kms.decrypt(
        CiphertextBlob=bytes(user_key.wrapped_dek),
        EncryptionContext={"purpose": "volumebot/user-dek/v1", "owner_id": str(alice.pk)},
    )["Plaintext"]
    assert len(plain) == 32
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=bytes(user_key.wrapped_dek),
            EncryptionContext={"purpose": "volumebot/user-dek/v1", "owner_id": str(alice.pk + 1)},
        )
    assert keystore.sign_with(wallet, b"m") == keypair.sign_message(b"m")
    assert master_key_check() == []


def test_it_refuses_a_kms_wrapped_data_key_moved_to_another_user(kms, alice, bob):
    wallet_import(owner=alice, secret_key=str(Keypair()))
    bob_wallet = wallet_import(owner=bob, secret_key=str(Keypair()))
    UserKey.objects.filter(owner=bob).update(
        wrapped_dek=UserKey.objects.get(owner=alice).wrapped_dek
    )
    dek_cache_clear()

    with pytest.raises(keystore.KeystoreError, match="KMS Decrypt failed: InvalidCiphertext"):
        keystore.sign_with(Wallet.objects.get(pk=bob_wallet.pk), b"m")


def test_it_refuses_to_start_with_another_kms_key(kms, settings, alice):
    wallet_import(owner=alice, secret_key=str(Keypair()))
    settings.WALLET_KMS_KEY_ID = _new_key(kms)

    (error,) = master_key_check()

    assert error.id == "wallets.E001"
    assert error.msg.startswith(
        "WALLET_KMS_KEY_ID is not the master key that wrapped 1 stored wallet data key(s)"
    )
    with pytest.raises(SystemCheckError, match=r"wallets\.E001"):
        call_command("check", tags=["security"])
    with pytest.raises(SystemExit, match="Refusing to start: WALLET_KMS_KEY_ID is not"):
        verify_master_key_or_exit(sender=None)


def test_it_refuses_to_start_when_kms_does_not_unwrap_or_the_key_is_missing(kms, settings, alice):
    wallet = wallet_import(owner=alice, secret_key=str(Keypair()))
    keystore.sign_with(wallet, b"m")  # the data key is now in the process's cache
    user_key = UserKey.objects.get(owner=alice)
    broken = bytearray(user_key.wrapped_dek)
    broken[-1] ^= 1
    UserKey.objects.filter(pk=user_key.pk).update(wrapped_dek=bytes(broken))

    (error,) = master_key_check()  # asks KMS, not the cache

    assert error.id == "wallets.E001"
    assert error.msg == (
        f"The master key {keystore.current_master_key().fingerprint} does not unwrap the data "
        f"key of user {alice.pk}: the key or the row is corrupted."
    )

    settings.WALLET_KMS_KEY_ID = "alias/no-such-key"
    (error,) = master_key_check()
    assert error.msg == (
        "The KMS key alias/no-such-key cannot be used as the master key: NotFoundException."
    )
    with pytest.raises(SystemExit, match="Refusing to start: The KMS key alias/no-such-key"):
        verify_master_key_or_exit(sender=None)


def test_it_rotates_from_one_kms_key_to_another_and_resumes(kms, settings, alice, bob, capsys):
    keypairs = [Keypair(), Keypair()]
    wallets = [
        wallet_import(owner=owner, secret_key=str(keypair))
        for owner, keypair in zip([alice, bob], keypairs, strict=True)
    ]
    old_key, new_key = settings.WALLET_KMS_KEY_ID, _new_key(kms)
    before = {row.pk: bytes(row.wrapped_dek) for row in UserKey.objects.all()}
    # Step 1: every process holds the new key and the previous one.
    settings.WALLET_KMS_KEY_ID, settings.WALLET_KMS_KEY_ID_PREVIOUS = new_key, old_key
    (warning,) = master_key_check()
    assert warning.id == "wallets.W001"

    call_command("rotate_master_key", old_kms_key=old_key, new_kms_key=new_key)

    assert "2 re-wrapped, 0 already done" in capsys.readouterr().out
    new_fingerprint = keystore.current_master_key().fingerprint
    rows = list(UserKey.objects.all())
    assert {row.kek_fingerprint for row in rows} == {new_fingerprint}
    assert all(bytes(row.wrapped_dek) != before[row.pk] for row in rows)
    # Only the new KMS key decrypts the stored blobs now.
    for row in rows:
        answer = kms.decrypt(
            CiphertextBlob=bytes(row.wrapped_dek),
            EncryptionContext={"purpose": "volumebot/user-dek/v1", "owner_id": str(row.owner_id)},
        )
        assert answer["KeyId"].endswith(new_key)
    settings.WALLET_KMS_KEY_ID_PREVIOUS = ""
    dek_cache_clear()
    assert master_key_check() == []
    for wallet, keypair in zip(wallets, keypairs, strict=True):
        assert keystore.sign_with(wallet, b"m") == keypair.sign_message(b"m")
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 2

    call_command("rotate_master_key", old_kms_key=old_key, new_kms_key=new_key)
    assert "0 re-wrapped, 2 already done" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 2


def test_it_stops_a_rotation_kms_refuses_and_resumes_it(kms, settings, alice, bob, capsys):
    wallet_import(owner=alice, secret_key=str(Keypair()))
    wallet_import(owner=bob, secret_key=str(Keypair()))
    old_key, new_key = settings.WALLET_KMS_KEY_ID, _new_key(kms)
    old_fingerprint = keystore.current_master_key().fingerprint
    bob_key = UserKey.objects.get(owner=bob)
    good = bytes(bob_key.wrapped_dek)
    UserKey.objects.filter(pk=bob_key.pk).update(wrapped_dek=good[:-1] + bytes([good[-1] ^ 1]))
    dek_cache_clear()

    with pytest.raises(
        CommandError,
        match=f"Stopped at data key {bob_key.pk}: KMS Decrypt failed: InvalidCiphertextException",
    ):
        call_command("rotate_master_key", old_kms_key=old_key, new_kms_key=new_key)

    rows = dict(UserKey.objects.values_list("owner_id", "kek_fingerprint"))
    assert rows[bob.pk] == old_fingerprint and rows[alice.pk] != old_fingerprint
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 1

    UserKey.objects.filter(pk=bob_key.pk).update(wrapped_dek=good)
    call_command("rotate_master_key", old_kms_key=old_key, new_kms_key=new_key)
    assert "1 re-wrapped, 1 already done" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 2


def test_it_moves_data_keys_from_a_local_master_key_to_kms(
    kms, settings, alice, monkeypatch, capsys
):
    keypair = Keypair()
    local_key = settings.WALLET_MASTER_KEY
    settings.WALLET_MASTER_KEY_PROVIDER = "env"
    wallet = wallet_import(owner=alice, secret_key=str(keypair))
    local_fingerprint = keystore.MasterKey(base64.b64decode(local_key)).fingerprint
    assert UserKey.objects.get().kek_fingerprint == local_fingerprint
    # Deploy with KMS as the provider and the local key as the previous one, then rotate.
    settings.WALLET_MASTER_KEY_PROVIDER = "aws-kms"
    settings.WALLET_MASTER_KEY_PREVIOUS = local_key
    monkeypatch.setenv("TEST_LOCAL_KEK", local_key)
    assert keystore.sign_with(wallet, b"m") == keypair.sign_message(b"m")

    call_command(
        "rotate_master_key", old_key_env="TEST_LOCAL_KEK", new_kms_key=settings.WALLET_KMS_KEY_ID
    )

    assert "1 re-wrapped, 0 already done" in capsys.readouterr().out
    assert UserKey.objects.get().kek_fingerprint == keystore.current_master_key().fingerprint
    settings.WALLET_MASTER_KEY_PREVIOUS = ""
    assert master_key_check() == []
    assert keystore.sign_with(wallet, b"m") == keypair.sign_message(b"m")
