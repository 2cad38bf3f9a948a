"""The red team: mallory signs up through the sign-up page as anyone could (the form with its
CSRF token, the verification link from the e-mail, the sign-in form), gets herself a JWT and
an API key through the API, then goes after every route that names alice's objects, as herself
and anonymously: pages, API endpoints (with her JWT and with her API key), API keys, WebSocket
tickets and the campaign's WebSocket. She gets 404 / 403 / sent to sign in, and never a byte of
alice's data, which is also absent from every list she can read.

The routes come from the URLconf and the tenant matrix's classification of each
(tests/security/test_tenant_matrix.py), so a new route is attacked here as soon as it exists
(an unclassified one fails `test_mallory_knows_every_route`)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from channels.db import database_sync_to_async
from django.core import mail
from django.db import connections
from django.test import Client, TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.factories import PASSWORD
from tests.security.isolation_fixtures import World, build_world
from tests.security.test_tenant_matrix import (
    ADMIN,
    API_PREFIX,
    AUTH,
    OBJECT,
    WS_ROUTES,
    fill,
    http_routes,
    methods_for,
    rule_for,
    ws_routes,
)
from tests.support.campaigns import make_campaign
from tests.support.web import ORIGIN

pytestmark = [pytest.mark.usefixtures("balances"), pytest.mark.django_db(transaction=True)]

MALLORY = "mallory@example.net"


class _FormFields(HTMLParser):
    """The named fields (with their values) of a page's POST form."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._in_form = True
        elif tag == "input" and self._in_form and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def submit(client: Client, url: str, values: dict[str, str]):
    """GET the page, fill its form's fields by name (the CSRF token kept), POST it back."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    parser = _FormFields()
    parser.feed(page.content.decode())
    assert "csrfmiddlewaretoken" in parser.fields, f"{url}: no CSRF token in the form"
    missing = set(values) - set(parser.fields)
    assert not missing, f"{url}: the form has no {missing}"
    # The verification e-mail goes out on commit, as a real request's would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, {**parser.fields, **values})


def sign_up_through_the_page(email: str) -> Client:
    """A browser-like client (CSRF enforced) that signs up, verifies and signs in."""
    browser = Client(enforce_csrf_checks=True)
    signup = reverse("accounts:signup")
    page = submit(browser, signup, {"email": email, "password": PASSWORD,
                                    "password_again": PASSWORD})  # fmt: skip
    assert b"Check your inbox" in page.content
    (message,) = [m for m in mail.outbox if m.to == [email]]
    link = re.search(r"/accounts/verify/\S+/", message.body).group(0)
    assert browser.get(link).status_code == 302
    signed_in = submit(browser, reverse("accounts:signin"), {"username": email,
                                                             "password": PASSWORD})  # fmt: skip
    assert (signed_in.status_code, signed_in["Location"]) == (302, reverse("dashboard"))
    return browser


def api_with(authorization: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


class Mallory:
    """mallory's three ways in: her signed-in browser, a JWT and an API key (trade scope),
    the last two got through the API as a bot would."""

    def __init__(self):
        self.browser = sign_up_through_the_page(MALLORY)
        self.user = User.objects.get(email=MALLORY)
        token = APIClient().post("/v1/auth/token", {"email": MALLORY, "password": PASSWORD})
        assert token.status_code == 200, token.content
        self.jwt = api_with(f"Bearer {token.json()['access']}")
        key = self.jwt.post(
            "/v1/api-keys", {"name": "bot", "scope": "trade", "expires_in_days": 7}, format="json"
        )
        assert key.status_code == 201, key.content
        self.api_key = api_with(f"Api-Key {key.json()['key']}")

    def page(self, method: str, path: str):
        # With the CSRF token a page of hers gave her: a refusal is then about the object.
        token = self.browser.cookies["csrftoken"].value
        return getattr(self.browser, method)(path, HTTP_X_CSRFTOKEN=token)


@pytest.fixture
def world(alice) -> World:
    return build_world(alice)


@pytest.fixture
def mallory(world) -> Mallory:
    return Mallory()


def alices_data(world: World) -> list[str]:
    """What of alice's must never appear in an answer to mallory."""
    return [
        world.owner.email, world.setup.wallet.address, world.setup.token.mint,
        world.setup.pool.address, world.webhook.url, world.owner.display_name,
    ]  # fmt: skip


def assert_nothing_of_alices(response, world: World, what: str) -> None:
    body = response.content.decode(errors="replace")
    leaked = [item for item in alices_data(world) if item in body]
    assert not leaked, f"{what}: alice's {leaked} in the answer"


def routes_of(kind: str) -> list[str]:
    return [r for r in http_routes() if (rule := rule_for(r)) is not None and rule.kind == kind]


def test_mallory_knows_every_route():
    unknown = [route for route in http_routes() if rule_for(route) is None]
    unknown += [route for route in ws_routes() if route not in WS_ROUTES]
    assert not unknown, f"classify these in tests/security/test_tenant_matrix.py: {unknown}"
    assert len(routes_of(OBJECT)) >= 20


def test_mallory_signed_up_through_the_page_cannot_reach_alices_objects(world, mallory):
    anonymous_page, anonymous_api = Client(), APIClient()
    for route in routes_of(OBJECT):
        rule = rule_for(route)
        path = fill(route, rule.kwargs(world))
        for method in methods_for(route, rule, http_routes()[route]):
            what = f"{method.upper()} {path}"
            if route.startswith(API_PREFIX):
                for name, client in (("JWT", mallory.jwt), ("API key", mallory.api_key)):
                    response = getattr(client, method)(path)
                    allowed = (404,) if name == "JWT" else (403, 404)
                    assert response.status_code in allowed, f"{what} ({name}): {response}"
                    assert_nothing_of_alices(response, world, f"{what} ({name})")
                response = getattr(anonymous_api, method)(path)
                assert response.status_code == 401, f"{what} anonymous: {response}"
            else:
                response = mallory.page(method, path)
                assert response.status_code == 404, f"{what}: {response.status_code}"
                assert_nothing_of_alices(response, world, what)
                response = getattr(anonymous_page, method)(path)
                assert response.status_code == 302, f"{what} anonymous: {response}"
                assert response["Location"].startswith("/accounts/signin/?next="), what
            assert_nothing_of_alices(response, world, f"{what} anonymous")


def test_what_mallory_may_read_shows_nothing_of_alices(world, mallory):
    # Her own lists, pages and settings: she is let in, and alice is nowhere in them.
    for route in routes_of(AUTH):
        if "get" not in methods_for(route, rule_for(route), http_routes()[route]):
            continue
        path = fill(route, {})
        if route.startswith(API_PREFIX):
            # 400: a required query parameter (`/v1/pools?mint=`); a key may not list keys (403).
            answers = [(mallory.jwt.get(path), (200, 400)),
                       (mallory.api_key.get(path), (200, 400, 403))]  # fmt: skip
        else:
            # 302: a step she has nothing for (two-factor verify without an authenticator).
            answers = [(mallory.page("get", path), (200, 302))]
        for response, allowed in answers:
            assert response.status_code in allowed, f"GET {path}: {response.status_code}"
            assert not response.get("Location", "").startswith("/accounts/signin/"), path
            assert_nothing_of_alices(response, world, f"GET {path}")


def test_mallory_is_sent_to_the_admin_sign_in(world, mallory):
    for route in routes_of(ADMIN):
        path = "/" + rule_for(route).path if rule_for(route).path else fill(route, {})
        response = mallory.page("get", path)
        assert response.status_code == 302, f"GET {path}: {response.status_code}"
        assert "/admin/login/" in response["Location"] or path == "/admin/logout/", path


async def _refused(path: str, headers) -> None:
    from channels.testing import WebsocketCommunicator

    from apps.core.consumers import CLOSE_POLICY
    from volumebot.asgi import application

    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=5)
    assert (connected, code) == (False, CLOSE_POLICY), path


async def test_mallory_cannot_open_alices_campaign_socket(world, mallory):
    cookie = (b"cookie", f"sessionid={mallory.browser.cookies['sessionid'].value}".encode())
    own = await database_sync_to_async(make_campaign)(mallory.user)
    ticket = await database_sync_to_async(mallory.jwt.post)(f"/v1/campaigns/{own.pk}/ws-ticket")
    assert ticket.status_code == 200
    try:
        for route, rule in WS_ROUTES.items():
            if rule.kind != OBJECT:
                continue
            path = fill(route, rule.kwargs(world))
            await _refused(path, [cookie, ORIGIN])
            await _refused(f"{path}?ticket={ticket.json()['ticket']}", [ORIGIN])
            await _refused(path, [ORIGIN])
    finally:
        await database_sync_to_async(connections.close_all)()
