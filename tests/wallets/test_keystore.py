import base64
import pickle

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import override_settings
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer

from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.checks import master_key_check, verify_master_key_or_exit
from apps.wallets.models import UserKey, Wallet
from apps.wallets.services import wallet_import
from tests.factories import WalletFactory
from tests.support.wallets import KEK2, assert_no_secret

pytestmark = pytest.mark.django_db


def test_it_signs_inside_the_block_and_refuses_after(alice_wallet, keypair):
    with keystore.wallet_signer(alice_wallet) as signer:
        signature = signer.sign_message(b"hello")
        assert str(signer.pubkey()) == alice_wallet.address

    assert signature == keypair.sign_message(b"hello")
    with pytest.raises(keystore.KeystoreError, match="outside its `wallet_signer\\(\\)` block"):
        signer.sign_message(b"again")
    assert repr(signer) == f"<WalletSigner {alice_wallet.address} closed>"


def test_it_opens_signers_for_many_wallets_with_one_read_of_each_owners_key(
    alice, bob, alice_wallet, keypair, django_assert_num_queries
):
    others = [Keypair(), Keypair()]
    wallets = [
        alice_wallet,
        wallet_import(owner=alice, secret_key=str(others[0]), label="Second"),
        wallet_import(owner=bob, secret_key=str(others[1]), label="Bob's"),
    ]
    with django_assert_num_queries(1), keystore.wallet_signers(wallets) as signers:
        opened = [signers[wallet.pk] for wallet in wallets]
    for signer, expected in zip(opened, [keypair, *others], strict=True):
        assert signer.address == str(expected.pubkey())
        with pytest.raises(keystore.KeystoreError, match="outside its"):
            signer.sign_message(b"after the block")


def test_a_watch_only_wallet_among_many_is_refused(alice, alice_wallet):
    watched = WalletFactory(owner=alice, kind="watch")
    with (
        pytest.raises(keystore.KeystoreError, match="watch-only"),
        keystore.wallet_signers([alice_wallet, watched]),
    ):
        pass


def test_it_signs_a_transaction(alice_wallet, keypair):
    message = MessageV0.try_compile(
        keypair.pubkey(),
        [transfer(TransferParams(from_pubkey=keypair.pubkey(), to_pubkey=Keypair().pubkey(),
                                 lamports=1))],
        [],
        Hash.default(),
    )  # fmt: skip

    tx = keystore.sign_with(alice_wallet, message)

    assert tx.verify_with_results() == [True]
    assert keystore.sign_with(alice_wallet, b"m").verify(keypair.pubkey(), b"m")


def test_it_keeps_signers_and_exports_out_of_reprs_and_pickles(alice_wallet, keypair):
    with keystore.wallet_signer(alice_wallet) as signer:
        assert_no_secret(repr(signer) + str(signer), keypair)
        with pytest.raises(TypeError):
            pickle.dumps(signer)
    exported = keystore.export_key(alice_wallet)
    assert repr(exported) == f"<ExportedKey {alice_wallet.address}>"
    with pytest.raises(TypeError):
        pickle.dumps(exported)
    assert_no_secret(repr(keystore.current_master_key()), keypair)


def test_it_refuses_a_ciphertext_swapped_between_two_wallets(alice, alice_wallet):
    other = wallet_import(owner=alice, secret_key=str(Keypair()))
    Wallet.objects.filter(pk=alice_wallet.pk).update(encrypted_secret=other.encrypted_secret)
    alice_wallet.refresh_from_db()

    with pytest.raises(keystore.KeystoreError) as caught:
        keystore.sign_with(alice_wallet, b"m")

    assert str(caught.value) == (
        f"The key of wallet {alice_wallet.pk} cannot be decrypted: "
        "Decryption failed: wrong key, or the ciphertext was moved."
    )
    assert caught.value.__cause__ is None and caught.value.__context__ is not None


def test_it_refuses_a_ciphertext_moved_to_another_owner(alice_wallet, bob, keypair):
    # Same address, another owner: bob's row with alice's ciphertext must not decrypt.
    wallet_import(owner=bob, secret_key=str(Keypair()))
    moved = Wallet.objects.create(
        owner=bob, address=alice_wallet.address, kind=Wallet.Kind.CUSTODIAL,
        encrypted_secret=alice_wallet.encrypted_secret,
    )  # fmt: skip

    with pytest.raises(keystore.KeystoreError, match="cannot be decrypted"):
        keystore.sign_with(moved, b"m")


def test_it_refuses_a_data_key_moved_to_another_user(alice_wallet, bob):
    wallet_import(owner=bob, secret_key=str(Keypair()))
    alice_key = UserKey.objects.get(owner=alice_wallet.owner)
    UserKey.objects.filter(owner=bob).update(wrapped_dek=alice_key.wrapped_dek)

    with pytest.raises(keystore.KeystoreError):
        keystore.sign_with(Wallet.objects.get(owner=bob), b"m")


def test_it_fails_loudly_at_start_up_with_the_wrong_master_key(alice_wallet):
    assert master_key_check() == []

    with override_settings(WALLET_MASTER_KEY=KEK2):
        (error,) = master_key_check()
        assert isinstance(error, Error)
        assert error.id == "wallets.E001"
        assert "WALLET_MASTER_KEY is not the master key that wrapped 1 stored wallet data" in (
            error.msg
        )
        with pytest.raises(SystemCheckError, match=r"wallets\.E001"):
            call_command("check", tags=["security"])
        with pytest.raises(SystemExit, match="Refusing to start: WALLET_MASTER_KEY is not"):
            verify_master_key_or_exit(sender=None)


def test_it_fails_at_start_up_on_a_malformed_or_missing_master_key():
    for value, message in [
        ("", "WALLET_MASTER_KEY is not set"),
        ("c2hvcnQ=", "WALLET_MASTER_KEY must be 32 random bytes, base64-encoded"),
        ("not base64 at all!", "WALLET_MASTER_KEY must be 32 random bytes, base64-encoded"),
    ]:
        with override_settings(WALLET_MASTER_KEY=value):
            (error,) = master_key_check()
            assert message in error.msg
            assert value not in error.msg or not value


def test_it_detects_a_corrupted_data_key(alice_wallet):
    user_key = UserKey.objects.get(owner=alice_wallet.owner)
    broken = bytearray(user_key.wrapped_dek)
    broken[-1] ^= 1
    UserKey.objects.filter(pk=user_key.pk).update(wrapped_dek=bytes(broken))

    (error,) = master_key_check()

    assert "does not unwrap the data key of user" in error.msg


def test_it_rotates_the_master_key_and_the_old_one_unwraps_nothing(
    alice_wallet, bob_wallet, keypair, kek2_env, monkeypatch, capsys
):
    from django.conf import settings

    monkeypatch.setenv("TEST_KEK1", settings.WALLET_MASTER_KEY)
    kek1 = keystore.current_master_key()

    call_command("rotate_master_key", old_key_env="TEST_KEK1", new_key_env=kek2_env)

    kek2 = keystore.MasterKey(base64.b64decode(KEK2))
    assert "2 re-wrapped, 0 already done" in capsys.readouterr().out
    assert set(UserKey.objects.values_list("kek_fingerprint", flat=True)) == {kek2.fingerprint}
    for user_key in UserKey.objects.all():
        with pytest.raises(keystore.KeystoreError):
            kek1.unwrap(bytes(user_key.wrapped_dek), owner_id=user_key.owner_id)
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 2

    with override_settings(WALLET_MASTER_KEY=KEK2):
        assert master_key_check() == []
        assert keystore.sign_with(alice_wallet, b"m") == keypair.sign_message(b"m")
        keystore.sign_with(bob_wallet, b"m")
    with pytest.raises(keystore.KeystoreError, match="which this process does not have"):
        keystore.sign_with(alice_wallet, b"m")

    # Resumable: a second run finds nothing left to do and changes nothing.
    call_command("rotate_master_key", old_key_env="TEST_KEK1", new_key_env=kek2_env)
    assert "0 re-wrapped, 2 already done" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="wallet.kek_rotate").count() == 2


def test_it_keeps_signing_mid_rotation_with_the_previous_key(alice_wallet, keypair, tmp_path):
    from django.conf import settings

    kek1 = settings.WALLET_MASTER_KEY
    key_file = tmp_path / "kek2"
    key_file.write_text(KEK2 + "\n")
    (tmp_path / "kek1").write_text(kek1)
    # Step 1 of the procedure: every process holds the new key and the previous one.
    with override_settings(WALLET_MASTER_KEY=KEK2, WALLET_MASTER_KEY_PREVIOUS=kek1):
        (warning,) = master_key_check()
        assert warning.id == "wallets.W001"
        assert keystore.sign_with(alice_wallet, b"m") == keypair.sign_message(b"m")

        call_command(
            "rotate_master_key",
            old_key_file=str(tmp_path / "kek1"),
            new_key_file=str(key_file),
            stdout=None,
        )

        assert master_key_check() == []
        assert keystore.sign_with(alice_wallet, b"m") == keypair.sign_message(b"m")


def test_it_refuses_a_rotation_to_the_same_key_or_a_missing_one(alice_wallet, monkeypatch):
    from django.conf import settings

    monkeypatch.setenv("TEST_KEK1", settings.WALLET_MASTER_KEY)
    before = list(UserKey.objects.values_list("wrapped_dek", "kek_fingerprint"))

    with pytest.raises(CommandError, match="are the same key"):
        call_command("rotate_master_key", old_key_env="TEST_KEK1", new_key_env="TEST_KEK1")
    with pytest.raises(CommandError, match="TEST_MISSING is empty or not set"):
        call_command("rotate_master_key", old_key_env="TEST_KEK1", new_key_env="TEST_MISSING")

    assert list(UserKey.objects.values_list("wrapped_dek", "kek_fingerprint")) == before
    assert not AuditEvent.objects.filter(action="wallet.kek_rotate").exists()


def test_it_reports_data_keys_wrapped_by_neither_key(alice_wallet, kek2_env, monkeypatch):
    monkeypatch.setenv("TEST_KEK3", base64.b64encode(b"3" * 32).decode())

    with pytest.raises(CommandError, match="1 data key\\(s\\) are wrapped by another key"):
        call_command("rotate_master_key", old_key_env="TEST_KEK3", new_key_env=kek2_env)

    assert UserKey.objects.get().kek_fingerprint == keystore.current_master_key().fingerprint
