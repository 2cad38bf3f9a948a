import re

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from apps.accounts.models import User
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db

STRONG = "a-long-and-unusual-passphrase"


def signup(client, email="dave@example.com", password=STRONG, again=None):
    # The verification e-mail goes out on commit; run those callbacks as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            reverse("accounts:signup"),
            {"email": email, "password": password, "password_again": again or password},
        )


def verification_link(message) -> str:
    return re.search(r"http://\S+/accounts/verify/\S+/", message.body).group(0)


def signin(client, email, password):
    return client.post(reverse("accounts:signin"), {"username": email, "password": password})


def test_it_signs_up_verifies_and_signs_in(client):
    response = signup(client, email="Dave@Example.com")

    assert response.status_code == 200
    assert b"Check your inbox" in response.content
    user = User.objects.get()
    assert user.email == "dave@example.com"
    assert user.email_verified_at is None
    assert user.password.startswith(("md5$", "argon2"))  # stored hashed, never in clear
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@example.com"]

    refused = signin(client, "dave@example.com", STRONG)
    assert refused.status_code == 200
    assert b"Verify your e-mail address first" in refused.content
    assert "_auth_user_id" not in client.session

    link = verification_link(mail.outbox[0])
    verified = client.get(link.removeprefix("http://127.0.0.1:8000"))
    assert verified.status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None

    signed_in = signin(client, "dave@example.com", STRONG)
    assert signed_in.status_code == 302
    assert signed_in.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "account.signup",
        "account.verify_email",
    ]


def test_it_verifies_only_once_when_the_link_is_opened_twice(client):
    signup(client)
    path = verification_link(mail.outbox[0]).removeprefix("http://127.0.0.1:8000")

    client.get(path)
    client.get(path)

    assert AuditEvent.objects.filter(action="account.verify_email").count() == 1


def test_it_rejects_a_tampered_verification_link(client):
    signup(client)
    path = verification_link(mail.outbox[0]).removeprefix("http://127.0.0.1:8000")

    response = client.get(path[:-3] + "xx/", follow=True)

    assert b"This verification link is not valid." in response.content
    assert User.objects.get().email_verified_at is None


def test_it_rejects_a_duplicate_email_and_creates_nothing(client, alice):
    response = signup(client, email="ALICE@example.com")

    assert response.status_code == 200
    assert b"An account with this e-mail address already exists." in response.content
    assert User.objects.count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("1234567890123", None, b"This password is entirely numeric."),
        ("short", None, b"Ensure this value has at least 10 characters"),
        (STRONG, STRONG + "x", b"The two passwords differ."),
        ("password12345", None, b"This password is too common."),
    ],
)
def test_it_rejects_bad_passwords_and_creates_nothing(client, password, again, message):
    response = signup(client, password=password, again=again)

    assert response.status_code == 200
    assert message in response.content
    assert not User.objects.exists()
    assert mail.outbox == []


def test_it_locks_out_after_repeated_failed_signins(client, alice, password, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = signin(client, alice.email, "wrong-password")
        assert response.status_code == 200
        assert b"That e-mail and password do not match an account." in response.content

    locked = signin(client, alice.email, "wrong-password")
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    # Even the right password is refused while the lock-out lasts.
    assert signin(client, alice.email, password).status_code == 429
    assert "_auth_user_id" not in client.session


def test_it_resets_a_forgotten_password(client, alice):
    client.post(reverse("accounts:password_reset"), {"email": alice.email})

    assert len(mail.outbox) == 1
    path = re.search(r"https?://[^/\s]+(/accounts/password-reset/\S+/)", mail.outbox[0].body)[1]
    form_page = client.get(path, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": STRONG, "new_password2": STRONG},
    )
    assert response.status_code == 302
    assert signin(client, alice.email, STRONG).status_code == 302


def test_it_answers_resend_the_same_for_unknown_addresses(client):
    response = client.post(
        reverse("accounts:resend_verification"), {"email": "nobody@example.com"}, follow=True
    )

    assert b"If that address has an unverified account" in response.content
    assert mail.outbox == []


def test_it_signs_out_with_post_only(client, alice):
    client.force_login(alice)

    assert client.get(reverse("accounts:signout")).status_code == 405
    assert client.post(reverse("accounts:signout")).status_code == 302
    assert "_auth_user_id" not in client.session
