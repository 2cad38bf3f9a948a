import json

import pytest
from django.urls import reverse
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.b58 import b58encode
from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.balances import TokenAccount
from apps.wallets.models import UserKey, Wallet
from apps.wallets.services import EXPORT_LIMIT
from tests.factories import PASSWORD
from tests.support.wallets import IN_USE_MESSAGE, OFF_CURVE, campaign_funded_by

pytestmark = pytest.mark.django_db

LIST = reverse("api:wallet_list")


def url(name: str, wallet: Wallet) -> str:
    return reverse(f"api:{name}", kwargs={"wallet_id": wallet.pk})


def test_it_imports_a_key_in_each_format(alice_api, alice):
    keys = [Keypair() for _ in range(3)]
    inputs = [str(keys[0]), json.dumps(list(bytes(keys[1]))), b58encode(keys[2].secret())]

    for keypair, secret in zip(keys, inputs, strict=True):
        response = alice_api.post(LIST, {"mode": "import", "secret_key": secret, "label": "F"})
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["address"] == str(keypair.pubkey())
        assert (body["kind"], body["label"], body["verified"]) == ("custodial", "F", True)
        assert set(body) == {
            "id", "address", "kind", "label", "active", "verified", "verified_at", "run_id",
            "created_at",
        }  # fmt: skip

    assert Wallet.objects.filter(owner=alice).count() == 3
    assert AuditEvent.objects.filter(action="wallet.import", actor=alice).count() == 3


def test_it_previews_the_address_without_saving(alice_api, alice, keypair):
    response = alice_api.post(LIST, {"mode": "import", "secret_key": str(keypair), "preview": True})

    assert response.status_code == 200
    assert response.json() == {
        "address": str(keypair.pubkey()), "kind": "custodial", "preview": True, "exists": False,
    }  # fmt: skip
    assert not Wallet.objects.exists()
    assert not UserKey.objects.exists()
    watch = alice_api.post(
        LIST, {"mode": "watch", "address": str(keypair.pubkey()), "preview": True}
    ).json()
    assert (watch["address"], watch["kind"]) == (str(keypair.pubkey()), "watch")
    refused = alice_api.post(LIST, {"mode": "generate", "preview": True})
    assert refused.status_code == 400
    assert not Wallet.objects.exists()


def test_it_generates_and_watches(alice_api, alice, watch_keypair):
    generated = alice_api.post(LIST, {"mode": "generate", "label": "New"})
    watched = alice_api.post(LIST, {"mode": "watch", "address": str(watch_keypair.pubkey())})

    assert generated.status_code == 201 and watched.status_code == 201
    assert generated.json()["verified"] is True
    assert watched.json()["verified"] is False
    assert Wallet.objects.get(kind="watch").encrypted_secret is None
    wallet = Wallet.objects.get(kind="custodial")
    assert keystore.sign_with(wallet, b"m").verify(Pubkey.from_string(wallet.address), b"m")


@pytest.mark.parametrize(
    ("body", "code", "field", "message"),
    [
        ({"mode": "import", "secret_key": "0OIl"}, "invalid_secret_key", "secret_key",
         "That is not valid base58 (or a JSON array). Accepted formats: a base58 secret key"),
        ({"mode": "import", "secret_key": b58encode(b"\x05" * 40)}, "invalid_secret_key",
         "secret_key", "It decodes to 40 bytes; a key has 64 (or a seed 32)."),
        ({"mode": "import"}, "invalid_secret_key", "secret_key", "Enter a secret key."),
        ({"mode": "watch", "address": "abc0"}, "invalid_address", "address",
         "That is not a valid base58 address."),
        ({"mode": "watch", "address": b58encode(b"\x07" * 33)}, "invalid_address", "address",
         "A Solana address is 32 bytes; this one decodes to 33 bytes."),
        ({"mode": "watch", "address": OFF_CURVE}, "invalid_address", "address",
         "This address is off the ed25519 curve (a program-derived address)"),
        ({"mode": "steal"}, "validation_error", "mode", '"steal" is not a valid choice.'),
    ],
)  # fmt: skip
def test_it_refuses_bad_input_with_a_clear_message(alice_api, body, code, field, message):
    response = alice_api.post(LIST, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["fields"][field][0].startswith(message)
    assert not Wallet.objects.exists()
    assert not UserKey.objects.exists()
    assert not AuditEvent.objects.exists()


def test_it_refuses_a_mismatched_64_byte_key(alice_api, keypair):
    mismatched = b58encode(keypair.secret() + bytes(Keypair().pubkey()))

    response = alice_api.post(LIST, {"mode": "import", "secret_key": mismatched})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "mismatched_secret_key"
    assert not Wallet.objects.exists()


def test_it_refuses_a_duplicate_address(alice_api, alice_wallet, keypair):
    seed = b58encode(keypair.secret())
    for body in [
        {"mode": "import", "secret_key": seed},
        {"mode": "watch", "address": alice_wallet.address},
    ]:
        response = alice_api.post(LIST, body)
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "duplicate_wallet",
            "message": f"You already have the wallet {alice_wallet.address}.",
            "fields": {"address": [f"You already have the wallet {alice_wallet.address}."]},
        }
    assert Wallet.objects.count() == 1
    assert AuditEvent.objects.filter(action__in=["wallet.import", "wallet.watch"]).count() == 1


def test_it_lets_two_users_hold_the_same_address(alice_wallet, bob_api, keypair):
    assert bob_api.post(LIST, {"mode": "import", "secret_key": str(keypair)}).status_code == 201
    assert Wallet.objects.filter(address=alice_wallet.address).count() == 2


def test_it_lists_gets_edits_and_deletes(alice_api, alice_wallet, alice_watch):
    listed = alice_api.get(LIST).json()
    assert [w["address"] for w in listed] == [alice_wallet.address, alice_watch.address]
    assert alice_api.get(url("wallet_detail", alice_wallet)).json()["label"] == "Funding"

    patched = alice_api.patch(
        url("wallet_detail", alice_wallet), {"label": "Main", "active": False}
    )
    assert (patched.json()["label"], patched.json()["active"]) == ("Main", False)
    alice_api.patch(url("wallet_detail", alice_wallet), {"label": "Main"})
    assert AuditEvent.objects.filter(action="wallet.update").count() == 1

    assert alice_api.delete(url("wallet_detail", alice_watch)).status_code == 204
    assert list(Wallet.objects.values_list("address", flat=True)) == [alice_wallet.address]
    assert AuditEvent.objects.filter(action="wallet.delete").count() == 1


def test_it_refuses_to_delete_a_wallet_in_use(alice_api, alice_wallet):
    campaign_funded_by(alice_wallet)

    response = alice_api.delete(url("wallet_detail", alice_wallet))

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "wallet_in_use",
        "message": IN_USE_MESSAGE,
        "fields": {},
    }
    assert Wallet.objects.filter(pk=alice_wallet.pk).exists()
    assert not AuditEvent.objects.filter(action="wallet.delete").exists()


def test_it_hides_bobs_wallets_from_alice(alice_api, bob_wallet):
    before = Wallet.objects.get(pk=bob_wallet.pk)
    assert alice_api.get(LIST).json() == []
    for method, name, body in [
        ("get", "wallet_detail", None),
        ("patch", "wallet_detail", {"label": "mine"}),
        ("delete", "wallet_detail", None),
        ("get", "wallet_balances", None),
        ("post", "wallet_verify", {}),
        ("post", "wallet_export", {"password": PASSWORD}),
    ]:
        response = getattr(alice_api, method)(url(name, bob_wallet), body)
        assert response.status_code == 404, (method, name)
        assert response.json()["error"]["code"] == "not_found"
    after = Wallet.objects.get(pk=bob_wallet.pk)
    assert (after.label, after.updated_at) == (before.label, before.updated_at)
    assert not AuditEvent.objects.filter(action__startswith="wallet.export").exists()


def test_it_wants_authentication(api_client, alice_wallet):
    for method, path in [
        ("get", LIST),
        ("post", LIST),
        ("get", url("wallet_detail", alice_wallet)),
        ("get", url("wallet_balances", alice_wallet)),
        ("post", url("wallet_verify", alice_wallet)),
        ("post", url("wallet_export", alice_wallet)),
    ]:
        response = getattr(api_client, method)(path, {})
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"
    assert Wallet.objects.count() == 1


def test_it_reads_balances_and_caches_them(alice_api, alice_wallet, balances):
    mint = str(Keypair().pubkey())
    balances.lamports[alice_wallet.address] = 1_500_000_001
    balances.tokens[(alice_wallet.address, "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")] = [
        TokenAccount(address="a", mint=mint, amount_raw=2**64 - 1, decimals=6),
        TokenAccount(address="b", mint=mint, amount_raw=1, decimals=6),
    ]

    body = alice_api.get(url("wallet_balances", alice_wallet)).json()
    alice_api.get(url("wallet_balances", alice_wallet))

    assert body["lamports"] == 1_500_000_001
    assert body["sol"] == "1.500000001"
    assert body["tokens"] == [
        {"mint": mint, "program": "token2022", "amount_raw": str(2**64), "decimals": 6,
         "amount": "18446744073709.551616"},
    ]  # fmt: skip
    assert (body["network"], body["error"]) == ("localnet", "")
    assert balances.calls == 1


def test_it_reports_unavailable_balances_without_failing(alice_api, alice_wallet, balances):
    balances.down = True

    body = alice_api.get(url("wallet_balances", alice_wallet)).json()

    assert body["lamports"] is None
    assert body["error"] == "The RPC endpoint did not answer (Timeout)."
    balances.down = False
    assert alice_api.get(url("wallet_balances", alice_wallet)).json()["lamports"] == 0
    bad = alice_api.get(url("wallet_balances", alice_wallet) + "?network=moon")
    assert bad.status_code == 400


def test_it_verifies_ownership_with_a_signed_message(alice_api, alice_watch, watch_keypair):
    challenge = alice_api.post(url("wallet_verify", alice_watch), {}).json()
    assert challenge["verified"] is False
    assert f"Wallet: {alice_watch.address}\n" in challenge["message"]

    wrong = Keypair().sign_message(challenge["message"].encode())
    refused = alice_api.post(url("wallet_verify", alice_watch), {"signature": str(wrong)})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_signature"
    garbage = alice_api.post(url("wallet_verify", alice_watch), {"signature": "xyz"})
    assert garbage.json()["error"]["message"] == "The signature must be 64 bytes in base58."
    alice_watch.refresh_from_db()
    assert alice_watch.verified_at is None

    signature = watch_keypair.sign_message(challenge["message"].encode())
    done = alice_api.post(url("wallet_verify", alice_watch), {"signature": str(signature)})

    assert done.status_code == 200
    assert done.json()["verified"] is True
    alice_watch.refresh_from_db()
    assert alice_watch.verified_at is not None
    assert AuditEvent.objects.filter(action="wallet.verify").count() == 1
    # Verifying again is a no-op.
    again = alice_api.post(url("wallet_verify", alice_watch), {"signature": str(signature)})
    assert again.json()["verified"] is True
    assert AuditEvent.objects.filter(action="wallet.verify").count() == 1


def test_it_refuses_a_signature_without_a_challenge(alice_api, alice_watch, watch_keypair):
    signature = watch_keypair.sign_message(b"anything")

    response = alice_api.post(url("wallet_verify", alice_watch), {"signature": str(signature)})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_challenge"
    alice_watch.refresh_from_db()
    assert alice_watch.verified_at is None


def test_it_treats_custodial_wallets_as_verified(alice_api, alice_wallet):
    body = alice_api.post(url("wallet_verify", alice_wallet), {}).json()

    assert (body["verified"], body["message"]) == (True, None)


def test_it_exports_a_key_after_the_password(alice_api, alice_wallet, keypair):
    wrong = alice_api.post(url("wallet_export", alice_wallet), {"password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"] == {"password": ["That is not your password."]}
    assert str(keypair) not in wrong.content.decode()
    assert not AuditEvent.objects.filter(action="wallet.export").exists()
    assert AuditEvent.objects.filter(action="wallet.export_refused").count() == 1

    response = alice_api.post(url("wallet_export", alice_wallet), {"password": PASSWORD})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "address": alice_wallet.address,
        "secret_key_base58": str(keypair),
        "secret_key_json": list(bytes(keypair)),
    }
    (event,) = AuditEvent.objects.filter(action="wallet.export")
    assert (event.entity_id, event.metadata) == (
        str(alice_wallet.pk),
        {"address": alice_wallet.address},
    )


@pytest.mark.parametrize("body", [{}, {"password": PASSWORD}])
def test_it_answers_404_to_an_export_of_another_users_wallet(bob_api, alice_wallet, body):
    # Before validating the body, too: a missing password used to answer 400 first.
    response = bob_api.post(url("wallet_export", alice_wallet), body)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not AuditEvent.objects.filter(action__startswith="wallet.export").exists()


def test_it_throttles_exports(alice_api, alice_wallet):
    for _ in range(EXPORT_LIMIT):
        response = alice_api.post(url("wallet_export", alice_wallet), {"password": PASSWORD})
        assert response.status_code == 200

    response = alice_api.post(url("wallet_export", alice_wallet), {"password": PASSWORD})

    assert response.status_code == 429
    assert 3590 <= int(response["Retry-After"]) <= 3600
    assert response.json()["error"]["code"] == "throttled"
    assert "secret_key_base58" not in response.json()
    assert AuditEvent.objects.filter(action="wallet.export").count() == EXPORT_LIMIT


def test_it_has_no_key_to_export_for_a_watch_wallet(alice_api, alice_watch):
    response = alice_api.post(url("wallet_export", alice_watch), {"password": PASSWORD})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_secret"
    assert not AuditEvent.objects.filter(action="wallet.export").exists()


def test_it_documents_the_api(alice_api):
    schema = alice_api.get(reverse("schema"), HTTP_ACCEPT="application/json").json()

    paths = schema["paths"]
    assert set(paths["/v1/wallets"]) >= {"get", "post"}
    assert set(paths["/v1/wallets/{wallet_id}"]) >= {"get", "patch", "delete"}
    assert "get" in paths["/v1/wallets/{wallet_id}/balances"]
    assert "post" in paths["/v1/wallets/{wallet_id}/verify"]
    assert "post" in paths["/v1/wallets/{wallet_id}/export"]


def test_it_refuses_to_delete_a_wallet_other_records_point_at(alice_api, alice_wallet, monkeypatch):
    from django.db.models import RestrictedError

    def restricted(self, *args, **kwargs):
        raise RestrictedError("referenced by a campaign", set())

    monkeypatch.setattr(Wallet, "delete", restricted)

    response = alice_api.delete(url("wallet_detail", alice_wallet))

    assert response.status_code == 409
    assert response.json()["error"]["message"] == IN_USE_MESSAGE
    assert Wallet.objects.filter(pk=alice_wallet.pk).exists()
    assert not AuditEvent.objects.filter(action="wallet.delete").exists()
