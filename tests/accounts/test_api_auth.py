import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_returns_me_with_a_jwt(alice_api, alice):
    response = alice_api.get("/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "email": "alice@example.com",
        "display_name": "Alice",
        "role": "user",
        "email_verified": True,
        "mainnet_allowed": False,
        "attested_at": None,
        "date_joined": response.json()["date_joined"],
    }


def test_it_refuses_me_without_credentials_in_the_error_shape(api_client):
    response = api_client.get("/v1/me")

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        }
    }


def test_it_refuses_a_garbage_token(api_client):
    response = api_client.get("/v1/me", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert response.json()["error"]["message"] == "Given token not valid for any token type"


def test_it_obtains_refreshes_and_verifies_tokens(api_client, alice, password):
    pair = api_client.post("/v1/auth/token", {"email": alice.email, "password": password}).json()

    access = api_client.post("/v1/auth/token/refresh", {"refresh": pair["refresh"]}).json()
    assert api_client.post("/v1/auth/token/verify", {"token": access["access"]}).status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access['access']}")
    assert api_client.get("/v1/me").json()["email"] == alice.email


def test_it_refuses_tokens_to_unverified_accounts(api_client, password):
    user = UserFactory(email="new@example.com", email_verified_at=None)

    response = api_client.post("/v1/auth/token", {"email": user.email, "password": password})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "email_not_verified"


def test_it_reports_missing_fields_in_the_error_shape(api_client):
    response = api_client.post("/v1/auth/token", {"email": "a@example.com"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "Some fields are invalid: password.",
            "fields": {"password": ["This field is required."]},
        }
    }


def test_it_answers_unknown_api_paths_with_json(api_client):
    response = api_client.get("/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_serves_the_schema_and_swagger_ui_without_a_cdn(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/v1/me" in schema.content
    assert docs.status_code == 200
    assert b"cdn." not in docs.content
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content


def test_it_answers_a_locked_out_account_with_429_and_retry_after(
    api_client, alice, password, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = api_client.post("/v1/auth/token", {"email": alice.email, "password": "nope"})
        assert wrong.status_code == 401
    last = api_client.post("/v1/auth/token", {"email": alice.email, "password": "nope"})
    assert last.status_code == 429

    # Even the right password is refused while the lock-out lasts.
    response = api_client.post("/v1/auth/token", {"email": alice.email, "password": password})

    assert response.status_code == 429
    cool_off = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert cool_off - 60 < int(response["Retry-After"]) <= cool_off
    error = response.json()["error"]
    assert error["code"] == "locked_out"
    assert error["message"].startswith("Too many failed sign-ins.")
    assert "access" not in response.json() and "refresh" not in response.json()
    # Another address from the same client is not locked.
    assert (
        api_client.post("/v1/auth/token", {"email": "x@example.com", "password": "p"}).status_code
        == 401
    )


def test_the_sign_in_page_lock_out_says_when_to_retry(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post("/accounts/signin/", {"username": alice.email, "password": "nope"})

    assert locked.status_code == 429
    cool_off = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert cool_off - 60 < int(locked["Retry-After"]) <= cool_off
