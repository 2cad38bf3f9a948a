import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.urls import reverse

from apps.accounts.models import Role
from apps.accounts.services import user_set_role
from apps.core.errors import ValidationFailed
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_it_gives_admins_the_admin_and_plain_users_nothing(client, alice, carol):
    assert alice.role == Role.USER
    assert carol.role == Role.ADMIN

    client.force_login(alice)
    refused = client.get(reverse("admin:index"))
    assert refused.status_code == 302
    assert refused.url.startswith(reverse("admin:login"))

    client.force_login(carol)
    assert client.get(reverse("admin:index")).status_code == 200


def test_it_changes_a_role_once_and_audits_it(alice, carol):
    user_set_role(user_id=alice.pk, role=Role.ADMIN, actor=carol)
    user_set_role(user_id=alice.pk, role=Role.ADMIN, actor=carol)

    alice.refresh_from_db()
    assert (alice.is_staff, alice.is_superuser) == (True, True)
    assert alice.role == Role.ADMIN
    assert AuditEvent.objects.filter(action="account.set_role").count() == 1


def test_it_refuses_an_unknown_role(alice, carol):
    with pytest.raises(ValidationFailed, match="Unknown role 'root'"):
        user_set_role(user_id=alice.pk, role="root", actor=carol)
    alice.refresh_from_db()
    assert not alice.is_staff


def test_it_hashes_passwords_with_argon2_in_production_settings():
    from volumebot.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    hashed = make_password("a-long-and-unusual-passphrase", hasher="argon2")
    assert hashed.startswith("argon2$argon2id$")
    assert check_password("a-long-and-unusual-passphrase", hashed)


def test_it_remembers_the_theme_on_the_account(client, alice):
    client.force_login(alice)

    response = client.post(reverse("accounts:set_theme"), {"theme": "dark"})

    assert response.status_code == 204
    alice.refresh_from_db()
    assert alice.theme == "dark"
    assert b'data-theme="dark"' in client.get(reverse("dashboard")).content


def test_it_refuses_an_unknown_theme(client, alice):
    client.force_login(alice)

    assert client.post(reverse("accounts:set_theme"), {"theme": "neon"}).status_code == 400
    alice.refresh_from_db()
    assert alice.theme == ""


def test_it_saves_the_profile(client, alice):
    client.force_login(alice)

    response = client.post(reverse("accounts:profile"), {"display_name": " Al ", "theme": "light"})

    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.theme) == ("Al", "light")


def test_it_sends_anonymous_visitors_to_sign_in(client):
    for name in ("dashboard", "accounts:profile"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:signin"))
