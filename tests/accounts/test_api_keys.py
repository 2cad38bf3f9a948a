"""Personal API keys: named, scoped (read / trade), expiring, shown once, hashed at rest,
revocable, with the time they were last used; `Authorization: Api-Key <key>`."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.admin_ops.services import user_suspend
from apps.core.models import AuditEvent
from apps.wallets.models import Wallet

pytestmark = pytest.mark.django_db


def create_key(api, **body) -> dict:
    response = api.post("/v1/api-keys", {"name": "bot", "scope": "read", **body})
    assert response.status_code == 201, response.json()
    return response.json()


def with_key(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_it_shows_a_key_once_and_keeps_only_its_hash(alice_api, alice):
    created = create_key(alice_api, name="Market bot", scope="trade", expires_in_days=30)

    raw = created["key"]
    assert raw.startswith(f"vbk_{created['prefix']}_") and len(raw) > 50
    row = ApiKey.objects.get()
    assert (row.owner, row.name, row.scope) == (alice, "Market bot", "trade")
    assert row.key_hash != raw and len(row.key_hash) == 64
    assert abs(row.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        assert raw.split("_")[-1] not in str(cursor.fetchall())
    listed = alice_api.get("/v1/api-keys").json()
    assert [key["prefix"] for key in listed] == [created["prefix"]]
    assert "key" not in listed[0]
    assert AuditEvent.objects.filter(action="api_key.create", actor=alice).count() == 1


def test_a_read_key_reads_and_cannot_write(alice_api, alice):
    raw = create_key(alice_api, scope="read")["key"]
    bot = with_key(raw)

    me = bot.get("/v1/me")
    write = bot.post("/v1/wallets", {"mode": "generate", "label": "x"})

    assert (me.status_code, me.json()["email"]) == (200, "alice@example.com")
    assert ApiKey.objects.get().last_used_at is not None
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "api_key_read_only"
    assert not Wallet.objects.exists()


def test_a_trade_key_writes_as_its_owner(alice_api, alice):
    bot = with_key(create_key(alice_api, scope="trade")["key"])

    response = bot.post("/v1/wallets", {"mode": "generate", "label": "Bot wallet"})

    assert response.status_code == 201
    assert Wallet.objects.get().owner == alice


@pytest.mark.parametrize("how", ["revoked", "expired", "wrong_secret", "suspended", "unknown"])
def test_a_dead_key_is_refused(alice_api, alice, carol, how):
    created = create_key(alice_api)
    raw = created["key"]
    if how == "revoked":
        assert alice_api.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    elif how == "expired":
        ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif how == "wrong_secret":
        raw = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    elif how == "suspended":
        user_suspend(user_id=alice.pk, actor=carol)
    else:
        raw = "vbk_000000000000_" + "x" * 43

    response = with_key(raw).get("/v1/me")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "api_key_invalid",
        "message": "This API key is not valid (unknown, expired or revoked).",
        "fields": {},
    }


def test_a_key_cannot_manage_keys(alice_api):
    bot = with_key(create_key(alice_api, scope="trade")["key"])

    listed = bot.get("/v1/api-keys")
    created = bot.post("/v1/api-keys", {"name": "successor", "scope": "trade"})
    revoked = bot.delete(f"/v1/api-keys/{ApiKey.objects.get().pk}")

    assert [listed.status_code, created.status_code, revoked.status_code] == [403, 403, 403]
    assert created.json()["error"]["message"] == (
        "API keys cannot manage API keys: sign in with your password."
    )
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None


def test_another_user_cannot_see_or_revoke_a_key(alice_api, bob_api):
    created = create_key(alice_api)

    assert bob_api.get("/v1/api-keys").json() == []
    response = bob_api.delete(f"/v1/api-keys/{created['id']}")

    assert response.status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert with_key(created["key"]).get("/v1/me").status_code == 200


def test_revoking_twice_is_one_audited_revocation(alice_api):
    created = create_key(alice_api)

    for _ in range(2):
        assert alice_api.delete(f"/v1/api-keys/{created['id']}").status_code == 204

    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"expires_in_days": 366}, "expires_in_days", "A key lasts 1 to 365 days."),
        ({"name": "bot\u202e"}, "name", None),
        ({"scope": "admin"}, "scope", '"admin" is not a valid choice.'),
    ],
)
def test_it_refuses_bad_key_requests_and_creates_nothing(alice_api, body, field, message):
    response = alice_api.post("/v1/api-keys", {"name": "bot", "scope": "read", **body})

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert list(fields) == [field]
    if message:
        assert fields[field] == [message]
    assert not ApiKey.objects.exists()


def test_the_schema_documents_api_keys(api_client):
    schema = api_client.get("/api/schema/?format=json").json()

    assert schema["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "A personal API key: `Api-Key vbk_…` (created with "
        "`POST /v1/api-keys`). Scope `read` allows GET only, `trade` every write.",
    }
    assert {"jwtAuth": []} in schema["paths"]["/v1/me"]["get"]["security"]
    assert {"apiKeyAuth": []} in schema["paths"]["/v1/me"]["get"]["security"]
    assert set(schema["paths"]["/v1/api-keys"]) >= {"get", "post"}


def test_the_settings_page_creates_a_key_shown_once_and_revokes_it(client, alice):
    client.force_login(alice)
    url = reverse("accounts:api_keys")

    created = client.post(url, {"name": "Page bot", "scope": "trade", "expires_in_days": 7})

    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    key = ApiKey.objects.get()
    raw = re.search(rb"vbk_[0-9a-f]{12}_[\w-]+", created.content).group().decode()
    assert with_key(raw).get("/v1/me").json()["email"] == "alice@example.com"
    listing = client.get(url)
    assert raw.encode() not in listing.content  # shown that once only
    assert f"vbk_{key.prefix}_…".encode() in listing.content

    revoked = client.post(reverse("accounts:api_key_revoke", args=[key.pk]))

    assert revoked.status_code == 302
    assert with_key(raw).get("/v1/me").status_code == 401


def test_the_settings_page_refuses_a_bad_key_and_another_users_revocation(client, alice, bob):
    client.force_login(alice)
    refused = client.post(reverse("accounts:api_keys"), {"name": "x", "scope": "read",
                                                         "expires_in_days": 999})  # fmt: skip
    assert refused.status_code == 400
    assert b"A key lasts 1 to 365 days." in refused.content
    assert not ApiKey.objects.exists()

    from apps.accounts.api_keys import api_key_create

    bobs, _ = api_key_create(owner=bob, name="b", scope="read", expires_in_days=1)
    response = client.post(reverse("accounts:api_key_revoke", args=[bobs.pk]))

    assert response.status_code == 404
    assert ApiKey.objects.get(pk=bobs.pk).revoked_at is None
