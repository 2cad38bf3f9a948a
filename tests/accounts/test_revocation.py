"""API tokens can be revoked: refresh tokens rotate (a used one is refused), and every token of
a user dies with a password change, a password reset, sign-out everywhere (API or page) and an
operator's suspension, which a later reinstatement does not undo."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.services import user_tokens_revoke
from apps.admin_ops.services import user_suspend, user_unsuspend
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-and-unusual-passphrase"


def sign_in(email: str, password: str) -> dict:
    response = APIClient().post("/v1/auth/token", {"email": email, "password": password})
    assert response.status_code == 200, response.json()
    return response.json()


def me(access: str):
    return APIClient().get("/v1/me", HTTP_AUTHORIZATION=f"Bearer {access}")


def refresh(token: str):
    return APIClient().post("/v1/auth/token/refresh", {"refresh": token})


def verify(token: str):
    return APIClient().post("/v1/auth/token/verify", {"token": token})


def assert_revoked(pair: dict) -> None:
    """Neither half of the pair works any more, and each says why."""
    revoked = {
        "code": "token_revoked",
        "message": "This token was revoked (password changed, or signed out): sign in again.",
        "fields": {},
    }
    for response in (me(pair["access"]), refresh(pair["refresh"]), verify(pair["access"])):
        assert response.status_code == 401
        assert response.json() == {"error": revoked}


def test_a_refresh_token_works_once(alice, password):
    pair = sign_in(alice.email, password)

    first = refresh(pair["refresh"])
    replayed = refresh(pair["refresh"])

    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != pair["refresh"]
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "token_not_valid"
    assert me(first.json()["access"]).status_code == 200
    assert refresh(first.json()["refresh"]).status_code == 200


def test_a_password_change_revokes_every_token(client, alice, password):
    pair = sign_in(alice.email, password)
    assert me(pair["access"]).status_code == 200
    client.force_login(alice)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert_revoked(pair)
    assert me(sign_in(alice.email, NEW_PASSWORD)["access"]).status_code == 200
    # The browser that changed it stays signed in.
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_password_reset_revokes_every_token(client, alice, password):
    pair = sign_in(alice.email, password)
    client.post(reverse("accounts:password_reset"), {"email": alice.email})
    path = re.search(r"https?://[^/\s]+(/accounts/password-reset/\S+/)", mail.outbox[0].body)[1]
    form_page = client.get(path, follow=True)

    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert_revoked(pair)


def test_sign_out_everywhere_on_the_api_revokes_tokens_and_sessions(alice, password):
    pair, other = sign_in(alice.email, password), sign_in(alice.email, password)
    browser = Client()
    browser.force_login(alice)

    response = APIClient().post(
        "/v1/auth/signout-everywhere", HTTP_AUTHORIZATION=f"Bearer {pair['access']}"
    )

    assert response.status_code == 204
    assert_revoked(pair)
    assert_revoked(other)
    assert browser.get(reverse("dashboard")).status_code == 302  # to the sign-in page
    (event,) = AuditEvent.objects.filter(action="account.tokens_revoke")
    assert (event.actor, event.entity_id, event.metadata) == (
        alice,
        str(alice.pk),
        {"reason": "signout_everywhere"},
    )


def test_sign_out_everywhere_on_the_page_revokes_tokens_and_sessions(client, alice, password):
    pair = sign_in(alice.email, password)
    other_browser = Client()
    other_browser.force_login(alice)
    client.force_login(alice)

    assert client.get(reverse("accounts:signout_everywhere")).status_code == 405
    response = client.post(reverse("accounts:signout_everywhere"))

    assert response.status_code == 302
    assert response.url == reverse("accounts:signin")
    assert_revoked(pair)
    for browser in (client, other_browser):
        assert browser.get(reverse("dashboard")).status_code == 302


def test_signing_out_one_client_spends_only_its_refresh_token(alice, password):
    pair, other = sign_in(alice.email, password), sign_in(alice.email, password)

    response = APIClient().post("/v1/auth/signout", {"refresh": pair["refresh"]})

    assert response.status_code == 200
    assert refresh(pair["refresh"]).status_code == 401
    assert refresh(other["refresh"]).status_code == 200


def test_a_suspension_revokes_every_token_for_good(alice, carol, password):
    pair = sign_in(alice.email, password)

    user_suspend(user_id=alice.pk, actor=carol)
    suspended = me(pair["access"])
    user_unsuspend(user_id=alice.pk, actor=carol)

    assert suspended.status_code == 401
    assert_revoked(pair)
    assert me(sign_in(alice.email, password)["access"]).status_code == 200


def test_revoking_leaves_other_users_tokens_alone(alice, bob, password):
    alices, bobs = sign_in(alice.email, password), sign_in(bob.email, password)

    user_tokens_revoke(user_id=alice.pk, actor=None, reason="test")

    assert_revoked(alices)
    assert me(bobs["access"]).status_code == 200
    assert refresh(bobs["refresh"]).status_code == 200


def test_expired_refresh_tokens_are_purged_and_live_ones_kept(alice, password):
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from apps.accounts.services import expired_tokens_purge

    live = sign_in(alice.email, password)
    live_row = OutstandingToken.objects.get()
    sign_in(alice.email, password)
    OutstandingToken.objects.exclude(pk=live_row.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert expired_tokens_purge() == 1
    assert list(OutstandingToken.objects.values_list("pk", flat=True)) == [live_row.pk]
    assert refresh(live["refresh"]).status_code == 200


def test_a_bearer_request_reads_the_user_once(alice, password):
    pair = sign_in(alice.email, password)

    with CaptureQueriesContext(connection) as queries:
        response = me(pair["access"])

    assert response.status_code == 200
    users = [q["sql"] for q in queries.captured_queries if 'FROM "accounts_user"' in q["sql"]]
    assert len(users) == 1, users


def test_a_token_of_an_inactive_user_is_refused(alice, password):
    pair = sign_in(alice.email, password)
    User.objects.filter(pk=alice.pk).update(is_active=False)

    response = me(pair["access"])

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"
