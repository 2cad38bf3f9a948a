"""The tenant-isolation matrix: every route the project serves, classified, and attacked.

Every URL pattern in the resolver (pages, the /v1/ API, exports, the admin) and every WebSocket
route is looked up in ROUTES (or, for the admin, the ADMIN_PREFIX rule). A route that is in
neither fails `test_it_classifies_every_route`, so a new route is attacked as soon as someone
says what it is. To classify one, add a line to ROUTES:

    "v1/things/<int:thing_id>": obj(lambda w: {"thing_id": w.thing.pk}),

- `public()`: anyone may call it (anonymous is never sent to sign in, never a 401).
- `auth()`: signed-in users only, no object in the URL: anonymous gets 401 (API) or a redirect
  to sign-in (pages) or a closed socket (WebSocket).
- `obj(kwargs)`: scoped to an owner; `kwargs(world)` gives the URL kwargs for alice's object.
  bob gets 404 for every method the route has, signed in or with his API key (403 where keys
  are refused outright); the WebSocket is closed with 4403 for bob's session, his token, a
  ticket he minted for his own campaign and a made-up one; anonymous
  gets 401 / the sign-in redirect / a closed socket, and alice herself gets through (so a wrong
  kwargs builder cannot make bob's 404 pass vacuously).
- `admin()`: staff only: a non-staff user and anonymous are redirected to the admin sign-in.
- `excluded(reason)`: not attacked here, with the reason.

API routes (under v1/) are attacked with every method their view implements; pages with the
`methods` given in the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.accounts.api_keys import api_key_create
from apps.core.consumers import CLOSE_POLICY
from tests.security.isolation_fixtures import World, build_world
from tests.support.campaigns import make_campaign
from tests.support.web import bearer, session_headers
from volumebot.routing import websocket_urlpatterns

# alice's own requests read wallet balances from a fake chain, never the network.
pytestmark = pytest.mark.usefixtures("balances")

PUBLIC, AUTH, OBJECT, ADMIN, EXCLUDED = "public", "auth-only", "object", "admin-only", "excluded"
API_PREFIX = "v1/"
ADMIN_PREFIX = "admin/"
ADMIN_APP_INDEX = "admin/^(?P<app_label>"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Rule:
    kind: str
    kwargs: Callable[[World], dict] | None = None
    methods: tuple[str, ...] = ("get",)
    reason: str = ""
    path: str | None = None  # a concrete path, for regex routes


def public(*methods: str) -> Rule:
    return Rule(PUBLIC, methods=methods or ("get",))


def auth(*methods: str) -> Rule:
    return Rule(AUTH, methods=methods or ("get",))


def obj(kwargs: Callable[[World], dict], *methods: str) -> Rule:
    return Rule(OBJECT, kwargs=kwargs, methods=methods or ("get",))


def admin(path: str | None = None) -> Rule:
    return Rule(ADMIN, path=path)


def excluded(reason: str) -> Rule:
    return Rule(EXCLUDED, reason=reason)


def campaign(w: World) -> dict:
    return {"campaign_id": w.campaign.pk}


def wallet(w: World) -> dict:
    return {"wallet_id": w.setup.wallet.pk}


def token(w: World) -> dict:
    return {"token_id": w.setup.token.pk}


def webhook(w: World) -> dict:
    return {"webhook_id": w.webhook.pk}


def delivery(w: World) -> dict:
    return {"delivery_id": w.delivery.pk}


def api_key(w: World) -> dict:
    key, _ = api_key_create(owner=w.owner, name="bot", scope="read", expires_in_days=30)
    return {"key_id": key.pk}


ROUTES: dict[str, Rule] = {
    # Pages
    "": public(),
    "dashboard/": auth(),
    "healthz": public(),
    "readyz": public(),
    "accounts/signup/": public("get", "post"),
    "accounts/signin/": public("get", "post"),
    "accounts/signout/": public("post"),
    "accounts/signout-everywhere/": auth("post"),
    "accounts/verify/<str:token>/": public(),
    "accounts/verify-again/": public("post"),
    "accounts/password-reset/": public("get", "post"),
    "accounts/password-reset/sent/": public(),
    "accounts/password-reset/<uidb64>/<token>/": public(),
    "accounts/password-reset/done/": public(),
    "accounts/settings/profile/": auth("get", "post"),
    "accounts/settings/password/": auth("get", "post"),
    # The theme toggle also works signed out (kept in a cookie).
    "accounts/settings/theme/": public("post"),
    "accounts/settings/api-keys/": auth("get", "post"),
    "accounts/settings/api-keys/<int:key_id>/revoke/": obj(api_key, "post"),
    "accounts/settings/two-factor/": auth("get", "post"),
    "accounts/two-factor/verify/": auth("get", "post"),
    "tokens/": auth(),
    "tokens/register/": auth("get", "post"),
    "tokens/<int:token_id>/": obj(token),
    "tokens/<int:token_id>/pools/select/": obj(token, "post"),
    "wallets/": auth(),
    "wallets/add/": auth("get", "post"),
    "wallets/<int:wallet_id>/": obj(wallet),
    "wallets/<int:wallet_id>/edit/": obj(wallet, "get", "post"),
    "wallets/<int:wallet_id>/verify/": obj(wallet, "get", "post"),
    "wallets/<int:wallet_id>/export/": obj(wallet, "get", "post"),
    "wallets/<int:wallet_id>/delete/": obj(wallet, "get", "post"),
    "wallets/<int:wallet_id>/airdrop/": obj(wallet, "post"),
    "campaigns/": auth(),
    "campaigns/new/": auth("get", "post"),
    "campaigns/new/pools/": auth(),
    "campaigns/new/check/": auth("post"),
    "campaigns/new/review/": auth("post"),
    "campaigns/<int:campaign_id>/": obj(campaign),
    "campaigns/<int:campaign_id>/logs/": obj(campaign),
    "campaigns/<int:campaign_id>/<str:action>/": obj(
        lambda w: {**campaign(w), "action": "pause"}, "post"
    ),
    "settings/notifications/": auth("get", "post"),
    "settings/webhooks/": auth("get", "post"),
    "settings/webhooks/docs/": auth(),
    "settings/webhooks/<int:webhook_id>/": obj(webhook, "get", "post"),
    "settings/webhooks/<int:webhook_id>/test/": obj(webhook, "post"),
    "settings/webhooks/<int:webhook_id>/rotate/": obj(webhook, "post"),
    "settings/webhooks/<int:webhook_id>/delete/": obj(webhook, "post"),
    "settings/webhooks/<int:webhook_id>/deliveries/": obj(webhook),
    "settings/webhooks/deliveries/<int:delivery_id>/resend/": obj(delivery, "post"),
    # API
    "v1/me": auth(),
    "v1/api-keys": auth("get", "post"),
    "v1/api-keys/<int:key_id>": obj(api_key, "delete"),
    "v1/auth/token": public("post"),
    "v1/auth/token/refresh": public("post"),
    "v1/auth/token/verify": public("post"),
    "v1/auth/signout": public("post"),
    "v1/auth/signout-everywhere": auth("post"),
    "v1/tokens": auth(),
    "v1/tokens/<int:token_id>": obj(token),
    "v1/pools": auth(),
    "v1/pools/selected": auth(),
    "v1/pools/selected/<int:selection_id>": obj(lambda w: {"selection_id": w.selection.pk}),
    "v1/wallets": auth(),
    "v1/wallets/<int:wallet_id>": obj(wallet),
    "v1/wallets/<int:wallet_id>/balances": obj(wallet),
    "v1/wallets/<int:wallet_id>/verify": obj(wallet),
    "v1/wallets/<int:wallet_id>/export": obj(wallet),
    "v1/campaigns": auth(),
    "v1/campaigns/<int:campaign_id>": obj(campaign),
    "v1/campaigns/<int:campaign_id>/start": obj(campaign),
    "v1/campaigns/<int:campaign_id>/pause": obj(campaign),
    "v1/campaigns/<int:campaign_id>/resume": obj(campaign),
    "v1/campaigns/<int:campaign_id>/stop": obj(campaign),
    "v1/campaigns/<int:campaign_id>/sell-only": obj(campaign),
    "v1/campaigns/<int:campaign_id>/gather": obj(campaign),
    "v1/campaigns/<int:campaign_id>/estimate": obj(campaign),
    "v1/campaigns/<int:campaign_id>/status": obj(campaign),
    "v1/campaigns/<int:campaign_id>/logs": obj(campaign),
    "v1/campaigns/<int:campaign_id>/ws-ticket": obj(campaign, "post"),
    "v1/campaigns/<int:campaign_id>/logs.csv": obj(campaign),
    "v1/webhooks": auth(),
    # The webhook is named in the body: tests/webhooks/test_api.py checks bob cannot test alice's.
    "v1/webhooks/test": auth("post"),
    "v1/webhooks/<int:webhook_id>": obj(webhook),
    "v1/webhooks/<int:webhook_id>/deliveries": obj(webhook),
    "v1/webhooks/<int:webhook_id>/rotate-secret": obj(webhook),
    "v1/webhooks/deliveries/<int:delivery_id>/resend": obj(delivery),
    "api/schema/": public(),
    "api/docs/": public(),
    "metrics": excluded(
        "Prometheus scrape: guarded by METRICS_TOKEN / METRICS_ALLOWED_NETWORKS, not by a "
        "session (tests/admin_ops/test_metrics.py)"
    ),
    # The admin's own exceptions to ADMIN_PREFIX.
    "admin/login/": public("get"),
    "admin/r/<path:content_type_id>/<path:object_id>/": excluded(
        "Django's view-on-site redirect (contenttypes.views.shortcut): no model of ours has "
        "get_absolute_url, and the target page is itself owner-scoped"
    ),
    "admin/(?P<url>.*)$": admin("admin/no-such-page/"),
}

WS_ROUTES: dict[str, Rule] = {
    "ws/notices/": auth(),
    "ws/campaigns/<int:campaign_id>/": obj(campaign),
}


@pytest.fixture
def world(alice, bob) -> World:
    return build_world(alice)


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern), pattern.callback


def http_routes() -> dict[str, Callable]:
    return dict(_walk(get_resolver().url_patterns))


def ws_routes() -> list[str]:
    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


def rule_for(route: str) -> Rule | None:
    if route in ROUTES:
        return ROUTES[route]
    if route.startswith(ADMIN_APP_INDEX):
        # The app index lists the installed apps in its regex: it changes with every new app.
        return admin("admin/wallets/")
    if route.startswith(ADMIN_PREFIX):
        # Every ModelAdmin adds the same five routes: all staff-only, classified by this rule.
        return admin()
    return None


def fill(route: str, kwargs: dict) -> str:
    """The path for a `path()` route with its converters replaced by `kwargs`."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        return str(kwargs.get(name, ADMIN_KWARGS.get(name, "x")))

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


ADMIN_KWARGS = {"object_id": "1", "id": "1", "content_type_id": "1"}


def api_methods(callback) -> list[str]:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    return [method for method in METHODS if hasattr(view_class, method)]


def methods_for(route: str, rule: Rule, callback) -> list[str]:
    return api_methods(callback) if route.startswith(API_PREFIX) else list(rule.methods)


def _cases(kind: str) -> list:
    routes = http_routes()
    return [
        pytest.param(route, id=route or "/")
        for route in routes
        if (rule := rule_for(route)) is not None and rule.kind == kind
    ]


def test_it_classifies_every_route():
    unclassified = [f"/{route}" for route in http_routes() if rule_for(route) is None]
    unclassified += [f"/{route} (WebSocket)" for route in ws_routes() if route not in WS_ROUTES]
    assert not unclassified, (
        "Routes missing from the tenant-isolation matrix (add each to ROUTES or WS_ROUTES in "
        "tests/security/test_tenant_matrix.py as public/auth/obj/admin/excluded):\n  "
        + "\n  ".join(unclassified)
    )


def test_it_has_no_stale_entries():
    routes = http_routes()
    stale = [route for route in ROUTES if route not in routes]
    stale += [route for route in WS_ROUTES if route not in ws_routes()]
    assert not stale, f"ROUTES names routes the resolver no longer has: {stale}"


def test_it_attacks_a_sensible_number_of_routes():
    # Guards the matrix itself: if the walk found nothing, every other test would pass empty.
    assert len(_cases(OBJECT)) >= 20
    assert len(_cases(ADMIN)) >= 50


def _request(client, method: str, path: str):
    return getattr(client, method)(path, follow=False)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(**bearer(user))
    return client


def _api_key(user) -> APIClient:
    _, raw = api_key_create(owner=user, name="bot", scope="trade", expires_in_days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _assert_sent_to_sign_in(response, what: str) -> None:
    assert response.status_code == 302, f"{what}: {response.status_code}"
    assert response["Location"].startswith("/accounts/signin/?next="), what


@pytest.mark.parametrize("route", _cases(OBJECT))
def test_another_user_and_anonymous_cannot_reach_alices_object(route, world):
    rule = rule_for(route)
    path = fill(route, rule.kwargs(world))
    methods = methods_for(route, rule, http_routes()[route])
    assert methods, f"/{route}: no methods to attack"
    is_api = route.startswith(API_PREFIX)
    bob, anonymous = (_api(world_bob()), _api()) if is_api else (_signed_in(world_bob()), Client())
    for method in methods:
        what = f"{method.upper()} {path}"
        response = _request(bob, method, path)
        assert response.status_code == 404, f"{what} as bob: {response.status_code}"
        if is_api:
            # bob's API key (trade scope: every write a key may make) finds nothing of hers
            # either; the key-management routes refuse keys outright (403).
            response = _request(_api_key(world_bob()), method, path)
            assert response.status_code in (403, 404), f"{what} with bob's API key: {response}"
        response = _request(anonymous, method, path)
        if is_api:
            assert response.status_code == 401, f"{what} anonymous: {response.status_code}"
            assert response.json()["error"]["code"] == "not_authenticated", what
        else:
            _assert_sent_to_sign_in(response, f"{what} anonymous")
    # alice herself gets through: the kwargs really name her object.
    owner = _api(world.owner) if is_api else _signed_in(world.owner)
    response = _request(owner, methods[0], path)
    assert response.status_code != 404, f"{methods[0].upper()} {path} as alice: 404"
    # (503 is allowed: the campaigns' chain reads answer "chain unavailable" without a localnet.)
    assert response.status_code != 500, f"{methods[0].upper()} {path} as alice: 500"


def world_bob():
    from apps.accounts.models import User

    return User.objects.get(email="bob@example.com")


@pytest.mark.parametrize("route", _cases(AUTH))
def test_anonymous_cannot_reach_signed_in_routes(route, db):
    rule = rule_for(route)
    path = fill(route, {})
    is_api = route.startswith(API_PREFIX)
    for method in methods_for(route, rule, http_routes()[route]):
        response = _request(_api() if is_api else Client(), method, path)
        what = f"{method.upper()} {path} anonymous"
        if is_api:
            assert response.status_code == 401, f"{what}: {response.status_code}"
            assert response.json()["error"]["code"] == "not_authenticated", what
        else:
            _assert_sent_to_sign_in(response, what)


@pytest.mark.parametrize("route", _cases(ADMIN))
def test_non_staff_cannot_reach_the_admin(route, world):
    rule = rule_for(route)
    path = "/" + rule.path if rule.path else fill(route, {"object_id": world.setup.wallet.pk})
    for client, who in ((_signed_in(world_bob()), "bob"), (Client(), "anonymous")):
        for method in ("get", "post"):
            response = _request(client, method, path)
            what = f"{method.upper()} {path} as {who}"
            assert response.status_code == 302, f"{what}: {response.status_code}"
            assert response["Location"].startswith("/admin/"), f"{what}: {response['Location']}"
            assert "/admin/login/" in response["Location"] or path == "/admin/logout/", what


@pytest.mark.parametrize("route", _cases(PUBLIC))
def test_public_routes_answer_anonymous(route, db):
    rule = rule_for(route)
    path = fill(route, {})
    for method in methods_for(route, rule, http_routes()[route]):
        client = _api() if route.startswith(API_PREFIX) else Client()
        response = _request(client, method, path)
        what = f"{method.upper()} {path} anonymous"
        assert response.status_code not in (401, 403), f"{what}: {response.status_code}"
        assert response.status_code < 500, f"{what}: {response.status_code}"
        # Some public flows end on the sign-in page; none is sent there to sign in first.
        assert not response.get("Location", "").startswith("/accounts/signin/?next="), what


# WebSocket routes: the consumers run in another thread, so the rows must be committed.


@pytest.fixture
async def _close_consumer_connections():
    yield
    await database_sync_to_async(connections.close_all)()


async def _closed_with_policy(path: str, headers) -> None:
    from volumebot.asgi import application

    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=5)
    assert not connected, f"{path}: accepted"
    assert code == CLOSE_POLICY, f"{path}: closed with {code}"


def _own_ticket(user) -> str:
    """A WebSocket ticket `user` mints through the API for a campaign of their own."""
    response = _api(user).post(f"/v1/campaigns/{make_campaign(user).pk}/ws-ticket")
    assert response.status_code == 200, response.content
    return response.json()["ticket"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", [r for r, rule in WS_ROUTES.items() if rule.kind == OBJECT])
async def test_websocket_refuses_another_user_and_anonymous(
    route, world, _close_consumer_connections
):
    path = fill(route, WS_ROUTES[route].kwargs(world))
    origin = [(b"origin", b"http://testserver")]
    bob = await database_sync_to_async(world_bob)()
    await _closed_with_policy(path, await database_sync_to_async(session_headers)(bob))
    bob_token = await database_sync_to_async(bearer)(bob)
    token = bob_token["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    await _closed_with_policy(f"{path}?token={token}", origin)
    await _closed_with_policy(path, origin)
    # A ticket bob minted for his own campaign does not open hers, nor does a made-up one.
    ticket = await database_sync_to_async(_own_ticket)(bob)
    await _closed_with_policy(f"{path}?ticket={ticket}", origin)
    await _closed_with_policy(f"{path}?ticket={'x' * 43}", origin)
    # alice herself is let in.
    from volumebot.asgi import application

    headers = await database_sync_to_async(session_headers)(world.owner)
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", [r for r, rule in WS_ROUTES.items() if rule.kind == AUTH])
async def test_websocket_refuses_anonymous(route, _close_consumer_connections):
    await _closed_with_policy(fill(route, {}), [(b"origin", b"http://testserver")])
