"""HTTP hardening: the security headers and the CSP on every page, CORS only for configured API
origins, CSRF on forms and HTMX requests, and `check --deploy` clean under production settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from apps.wallets import balances as chain_balances
from tests.support.balances import FakeReader
from tests.support.campaigns import Setup, make_campaign

pytestmark = pytest.mark.django_db

BASE_DIR = Path(django_settings.BASE_DIR)
CSP = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def csp(response) -> set[str]:
    return {directive.strip() for directive in response["Content-Security-Policy"].split(";")}


@pytest.fixture
def pages(alice, carol, monkeypatch):
    """(client, url) for every page a person can open: signed out, as a user, as an admin."""
    monkeypatch.setattr(chain_balances, "reader_for_network", lambda network: FakeReader())
    setup = Setup(alice)
    campaign = make_campaign(setup, status="active")
    anonymous, user, admin = Client(), Client(), Client()
    user.force_login(alice)
    admin.force_login(carol)
    wallet = setup.wallet
    return [
        (anonymous, "/"),
        (anonymous, reverse("accounts:signin")),
        (anonymous, reverse("accounts:signup")),
        (anonymous, reverse("accounts:password_reset")),
        (anonymous, "/no-such-page/"),
        (user, reverse("dashboard")),
        (user, reverse("campaigns:list")),
        (user, reverse("campaigns:new")),
        (user, reverse("campaigns:detail", args=[campaign.pk])),
        (user, reverse("campaigns:logs", args=[campaign.pk])),
        (user, reverse("wallets:list")),
        (user, reverse("wallets:add")),
        (user, reverse("wallets:detail", args=[wallet.pk])),
        (user, reverse("wallets:export", args=[wallet.pk])),
        (user, reverse("tokens:index")),
        (user, reverse("accounts:profile")),
        (user, reverse("accounts:password_change")),
        (admin, reverse("admin:index")),
        (admin, reverse("admin:control_room")),
        (admin, reverse("admin:accounts_user_changelist")),
        (admin, reverse("api-docs")),
    ]


def test_it_sends_the_csp_and_security_headers_on_every_page(pages):
    for client, url in pages:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert csp(response) == CSP, url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url


def test_it_renders_no_inline_script_or_style_on_our_pages(pages):
    """What the CSP would block: inline <script>, event-handler / style attributes, hx-on."""
    for client, url in pages:
        if url.startswith(("/admin/", "/api/")):
            continue  # Django's and Swagger's own templates
        html = client.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, (url, tag)
        assert not re.search(r"\s(style|on[a-z]+|hx-on[:\w-]*)=", html), url
        assert "<style" not in html, url


def test_it_sends_the_csp_on_the_rate_limit_page(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "0/min"}
    response = client.post(reverse("accounts:signup"), {})
    assert response.status_code == 429
    assert csp(response) == CSP


def test_it_answers_cors_only_for_configured_api_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    preflight = {
        "HTTP_ORIGIN": "https://app.example.com",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
    }
    allowed = api_client.options("/v1/auth/token", **preflight)
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed

    other = api_client.options(
        "/v1/auth/token", **{**preflight, "HTTP_ORIGIN": "https://evil.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in other
    page = api_client.get(reverse("accounts:signin"), HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in page


def test_it_answers_no_cors_by_default(api_client):
    response = api_client.options(
        "/v1/auth/token",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in response


def test_it_refuses_a_form_post_without_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("wallets:add") + "?tab=generate", {"label": "x"})
    assert response.status_code == 403
    assert not alice.wallets.exists()


def test_it_accepts_htmx_posts_with_the_token_from_hx_headers(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("wallets:add")).content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page).group(1)
    response = client.post(
        reverse("wallets:add") + "?tab=generate",
        {"label": "x"},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 204
    assert "HX-Redirect" in response
    assert alice.wallets.count() == 1


def test_every_post_form_carries_a_csrf_token():
    for path in (BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text()
        for form in re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", text, re.S | re.I):
            assert "{% csrf_token %}" in form, path


def test_check_deploy_reports_no_issues_with_production_settings(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.production",
        "SECRET_KEY": "x7Kq2vN9pL4mR8sT1wY6zB3cF5hJ0dG-aE_uI9oP2lK4nM7bV1cX3zQ8wE5rT6yU",
        "ALLOWED_HOSTS": "volumebot.example.com",
        "WALLET_MASTER_KEY": "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=",
        # Never connected to by the checks: any well-formed URLs do.
        "DATABASE_URL": "postgres://volumebot:secret@db.example.com:5432/volumebot",
        "REDIS_URL": "redis://redis.example.com:6379/0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_production_settings_refuse_debug(tmp_path):
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.production",
        "DEBUG": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "DEBUG must be off with volumebot.settings.production." in result.stderr
