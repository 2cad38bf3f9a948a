"""Crafted input gets a clear 4xx in the API's error shape, never a 500: bodies too large or
nested too deep are refused before they are parsed, and a lookup's domain errors are 400s."""

import json

import pytest
from django.test import override_settings
from solders.keypair import Keypair

from apps.core.parsers import json_depth
from apps.localnet.seed import seed_token
from apps.tokens.models import Pool, Token
from apps.webhooks.models import Webhook

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "fields"}


def post_raw(client, url: str, body: bytes):
    return client.generic("POST", url, body, content_type="application/json")


def test_it_refuses_a_deeply_nested_body_unauthenticated_with_400(api_client):
    body = b"[" * 1000 + b"]" * 1000  # 2 KB: a RecursionError (500) before the limit

    response = post_raw(api_client, "/v1/auth/token", body)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "parse_error",
            "message": "The JSON body is nested deeper than 16 levels.",
            "fields": {},
        }
    }


def test_it_refuses_deep_objects_on_an_authenticated_write_and_creates_nothing(alice_api):
    body = json.dumps({"mint": "x", "network": "localnet"})[:-1] + ', "x": '
    body += '{"a": ' * 500 + "1" + "}" * 500 + "}"

    response = post_raw(alice_api, "/v1/tokens", body.encode())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Token.objects.exists()


def test_it_accepts_nesting_up_to_the_limit_and_counts_brackets_in_strings_as_text(api_client):
    # 16 levels is allowed: the body then fails on its content, not its shape.
    nested = json.loads("[" * 15 + "]" * 15)
    body = json.dumps({"email": "[[[[[[[[[[[[[[[[[[[[x@example.com", "password": nested})

    response = post_raw(api_client, "/v1/auth/token", body.encode())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert json_depth(body.encode()) == 16
    assert json_depth(b'[{"a": "]]]\\"[[["}, [[]]]') == 3


@override_settings(API_MAX_BODY_BYTES=1024)
def test_it_refuses_a_body_over_the_size_limit_with_413(api_client):
    body = json.dumps({"email": "a" * 2000 + "@example.com", "password": "x"}).encode()

    response = post_raw(api_client, "/v1/auth/token", body)

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "request_too_large",
            "message": "The request body is over the limit of 1024 bytes.",
            "fields": {},
        }
    }


@override_settings(API_MAX_BODY_BYTES=1024)
def test_it_refuses_an_oversized_authenticated_write_and_creates_nothing(alice_api):
    body = json.dumps({"url": "https://example.com/" + "a" * 2000, "events": []}).encode()

    response = post_raw(alice_api, "/v1/webhooks", body)

    assert response.status_code == 413
    assert set(response.json()["error"]) == ERROR_KEYS
    assert not Webhook.objects.exists()


def test_pool_lookup_of_a_wallet_address_is_a_clear_400(alice_api, localnet):
    seeded = seed_token(localnet.cluster, raydium_reserves=None)
    wallet = str(seeded.wallets[0].pubkey())

    response = alice_api.get(f"/v1/pools?mint={wallet}&network=localnet")

    assert response.status_code == 400
    message = "This address is a wallet, not a token mint."
    assert response.json() == {
        "error": {"code": "validation_error", "message": message, "fields": {"mint": [message]}}
    }
    assert not Pool.objects.exists()


def test_pool_lookup_of_a_missing_account_is_an_empty_list(alice_api, localnet):
    response = alice_api.get(f"/v1/pools?mint={Keypair().pubkey()}&network=localnet")

    assert response.status_code == 200
    assert response.json() == []


LONGER_THAN_ANY = "x" * 300 + "@example.com"  # django-axes counts failures in 255 characters


def test_the_token_endpoint_refuses_an_address_longer_than_any_with_401(api_client):
    response = api_client.post(
        "/v1/auth/token", {"email": LONGER_THAN_ANY, "password": "wrong"}, format="json"
    )

    assert response.status_code == 401  # was a 500 (a DataError writing the failure)


def test_the_sign_in_page_refuses_an_address_longer_than_any(client):
    response = client.post("/accounts/signin/", {"username": LONGER_THAN_ANY, "password": "x"})

    assert response.status_code == 200
    assert b"That e-mail and password do not match an account." in response.content


def test_a_lone_surrogate_in_a_string_is_a_400_and_a_pair_is_text(alice_api):
    lone = post_raw(alice_api, "/v1/api-keys", b'{"name": "bot\\ud800", "scope": "read"}')
    paired = post_raw(alice_api, "/v1/auth/token", b'{"email": "\\ud83d\\ude00", "password": "x"}')

    assert lone.status_code == 400  # was a 500 (UnicodeEncodeError writing the name)
    assert lone.json()["error"]["message"] == (
        "The JSON body has a string that is not valid Unicode (a lone surrogate)."
    )
    assert paired.status_code == 401  # an emoji is text: parsed, then no such account
