"""Keys never leave the keystore: not in the database, logs, pages, API answers, the admin or
exceptions. The one exception is the export the owner asks for, by design."""

import logging
import traceback

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from solders.keypair import Keypair

from apps.core.errors import ValidationFailed
from apps.core.models import AuditEvent
from apps.wallets import keystore
from apps.wallets.domain import parse_secret_key
from apps.wallets.models import Wallet
from tests.factories import PASSWORD
from tests.support.wallets import assert_no_secret, secret_forms

pytestmark = pytest.mark.django_db


def dump_database() -> tuple[str, bytes]:
    """Every row of every table, as text and as bytes (binary columns raw, and as hex in the
    text), the way a leaked backup could be read."""
    text, binary = [], []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the catalog)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        binary.append(bytes(value))
                        text.append(bytes(value).hex())
                    else:
                        text.append(str(value))
    return "\n".join(text), b"\n".join(binary)


def test_it_stores_no_secret_in_the_database(alice_api, alice, keypair):
    response = alice_api.post(
        reverse("api:wallet_list"), {"mode": "import", "secret_key": str(keypair)}
    )
    assert response.status_code == 201

    text, binary = dump_database()

    assert str(keypair.pubkey()) in text  # the dump does see the wallet row
    assert Wallet.objects.get().encrypted_secret.hex() in text
    assert_no_secret(text, keypair)
    assert_no_secret(binary, keypair)


def test_it_keeps_secrets_out_of_logs_html_and_api_answers(
    client, alice, alice_api, keypair, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    client.force_login(alice)
    forms = secret_forms(keypair)
    answers = []
    # SQL statements are logged (with parameters) too, so encrypted writes are in the capture.
    with CaptureQueriesContext(connection) as queries:
        answers.append(
            client.post(reverse("wallets:add") + "?tab=import",
                        {"secret_key": forms["json"], "preview": "1"}, HTTP_HX_REQUEST="true")
        )  # fmt: skip
        answers.append(
            alice_api.post(
                reverse("api:wallet_list"), {"mode": "import", "secret_key": forms["base58"]}
            )
        )
        wallet = Wallet.objects.get()
        # Mistakes too: a duplicate and a malformed key must not echo what was pasted.
        answers.append(
            alice_api.post(
                reverse("api:wallet_list"), {"mode": "import", "secret_key": forms["json"]}
            )
        )
        answers.append(
            alice_api.post(reverse("api:wallet_list"),
                           {"mode": "import", "secret_key": forms["base58"][:-2]})
        )  # fmt: skip
        for name in ("list", "add"):
            answers.append(client.get(reverse(f"wallets:{name}")))
        for name in ("detail", "export", "delete"):
            answers.append(client.get(reverse(f"wallets:{name}", args=[wallet.pk])))
        answers.append(alice_api.get(reverse("api:wallet_list")))
        answers.append(alice_api.get(reverse("api:wallet_detail", args=[wallet.pk])))
        with keystore.wallet_signer(wallet) as signer:
            logging.getLogger("apps.wallets").info("signing with %r", signer)
            signer.sign_message(b"m")
        keystore.sign_with(wallet, b"m")
        exported = alice_api.post(
            reverse("api:wallet_export", args=[wallet.pk]), {"password": PASSWORD}
        )

    assert len(queries) > 5
    assert 'INSERT INTO "wallets_wallet"' in caplog.text
    assert exported.json()["secret_key_base58"] == forms["base58"]  # shown once, by design
    for answer in answers:
        assert answer.status_code in (200, 201, 400), answer
        assert_no_secret(answer.content.decode(), keypair)
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert "signing with <WalletSigner" in logged
    assert_no_secret(logged, keypair)
    assert_no_secret(str(list(AuditEvent.objects.values())), keypair)


def test_it_keeps_secrets_out_of_the_admin(client, carol, alice_wallet, keypair):
    # Staff see model pages only with permissions; the operator role gets the view ones.
    carol.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="wallets", codename__startswith="view_")
    )
    client.force_login(carol)
    user_key = alice_wallet.owner.wallet_key
    pages = [
        reverse("admin:wallets_wallet_changelist"),
        reverse("admin:wallets_wallet_change", args=[alice_wallet.pk]),
        reverse("admin:wallets_userkey_changelist"),
        reverse("admin:wallets_userkey_change", args=[user_key.pk]),
    ]

    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert_no_secret(html, keypair)
        assert "encrypted_secret" not in html and "wrapped_dek" not in html
        assert bytes(alice_wallet.encrypted_secret).hex() not in html
    assert alice_wallet.address in client.get(pages[0]).content.decode()
    assert client.get(reverse("admin:wallets_wallet_add")).status_code == 403


def test_it_keeps_secrets_out_of_exceptions(alice, alice_wallet, keypair):
    errors = []
    for text in [str(keypair)[:-1] + "0", str(keypair) + "1", secret_forms(keypair)["json"][:-1]]:
        with pytest.raises(ValidationFailed) as caught:
            parse_secret_key(text)
        errors.append(caught.value)
    Wallet.objects.filter(pk=alice_wallet.pk).update(
        encrypted_secret=Wallet.objects.create(
            owner=alice, address=str(Keypair().pubkey()), kind="custodial", encrypted_secret=b"x"
        ).encrypted_secret
    )
    alice_wallet.refresh_from_db()
    with pytest.raises(keystore.KeystoreError) as caught:
        keystore.sign_with(alice_wallet, b"m")
    errors.append(caught.value)

    for error in errors:
        rendered = "".join(traceback.format_exception(error))
        assert_no_secret(rendered + repr(error) + repr(getattr(error, "fields", "")), keypair)
