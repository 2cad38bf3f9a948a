"""Schemathesis against the project's own OpenAPI schema (drf-spectacular, served in-process by
the WSGI app), authenticated as alice, who owns a token, a pool selection, a wallet and a
campaign; about half the generated cases aim their path ids at her objects so the fuzzer gets
past the 404s.

Checks on every response: no 5xx, the status code, content type, headers and body match the
schema, and every 4xx has the one JSON error shape `{"error": {"code", "message", "fields"}}`.

Bounded for the suite: FUZZ_EXAMPLES cases per operation (default 10). Run longer with
`FUZZ_EXAMPLES=500 make test` or just this file:
`FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/security/test_api_fuzz.py`.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.isolation_fixtures import World, build_world
from tests.support.web import bearer

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
_cases = itertools.count()


def _load_schema():
    from volumebot.wsgi import application

    # Loaded at collection: the schema view reads no rows (drf-spectacular builds it from code).
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()
if FUZZ_EXAMPLES < 50:
    # The coverage phase sends every boundary value of every field whatever max_examples
    # says (minutes here); the suite's bounded run leaves it to the long runs.
    schema.config.phases.coverage.enabled = False


def assert_error_shape(body) -> None:
    """`{"error": {"code": str, "message": str, "fields": {name: [str]}}}`."""
    assert set(body) == {"error"}, f"not the error shape: {body}"
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, f"not the error shape: {body}"
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["fields"], dict), body
    for name, messages in error["fields"].items():
        assert isinstance(messages, list) and all(isinstance(m, str) for m in messages), name


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx is in the API's one error shape."""
    if not 400 <= response.status_code < 500:
        return None
    assert_error_shape(response.json())
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
]


def own_ids(world: World) -> dict[str, int]:
    # Read once: the fuzzer may delete the selection or the campaign on the way.
    return {
        "campaign_id": world.campaign.pk,
        "wallet_id": world.setup.wallet.pk,
        "token_id": world.setup.token.pk,
        "selection_id": world.selection.pk,
    }


@pytest.fixture
def world(alice, balances, localnet) -> World:
    return build_world(alice)


@pytest.fixture
def ids(world) -> dict[str, int]:
    return own_ids(world)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # Schemathesis calls the WSGI app directly, whose request signals would close the test's
    # database connection (and its transaction) after every call; Django's test client
    # disconnects them the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, world, ids):
    # Every other case (schema examples cannot take a drawn flag) aims at alice's objects.
    if next(_cases) % 2 == 0 and case.path_parameters:
        case.path_parameters = {
            name: ids.get(name, value) for name, value in case.path_parameters.items()
        }
    case.call_and_validate(
        headers={"Authorization": bearer(world.owner)["HTTP_AUTHORIZATION"]}, checks=CHECKS
    )


# Hostile bodies: each generated case's JSON body is sent again in every shape below (raw bytes,
# so that nothing on the way can refuse to build them), and its path ids out of range.
# Every answer must be a 4xx in the error shape or a success, never a 5xx.
DEEP = 5_000  # nesting levels: Python's json recursion would overflow long before
HUGE_DIGITS = 5_000  # over int()'s 4,300-digit limit for str → int


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _fields(body) -> dict:
    return body if isinstance(body, dict) else {"value": body}


def _every_field(body, value) -> bytes:
    """The body with every top-level field's value replaced by the raw JSON `value`."""
    fields = _fields(body)
    if not fields:
        return b"{}"
    return b"{" + b",".join(_json(name) + b":" + value for name in fields) + b"}"


HOSTILE: dict[str, Callable[[object], bytes]] = {
    "deep array": lambda body: b"[" * DEEP + b"]" * DEEP,
    "deep inside an object": lambda body: b'{"x":' + b'{"a":' * DEEP + b"1" + b"}" * (DEEP + 1),
    "over the size limit": lambda body: _json({**_fields(body), "pad": "x" * 300_000}),
    "huge integers": lambda body: _every_field(body, b"1" + b"0" * HUGE_DIGITS),
    "huge floats": lambda body: _every_field(body, b"1e999999"),
    "NaN": lambda body: _every_field(body, b"NaN"),
    "NUL in strings": lambda body: _every_field(body, b'"a\\u0000b"'),
    "lone surrogates": lambda body: _every_field(body, b'"\\ud800"'),
    "bidi and control characters": lambda body: _every_field(body, _json("a\u202eb\x1b[31m")),
    "arrays for every field": lambda body: _every_field(body, b"[[], [1], {}]"),
    "objects for every field": lambda body: _every_field(body, b'{"$gt": ""}'),
    "nulls for every field": lambda body: _every_field(body, b"null"),
    "a long string for every field": lambda body: _every_field(body, _json("x" * 100_000)),
    "a top-level scalar": lambda body: b'"just a string"',
    "invalid UTF-8": lambda body: b'{"name": "\xff\xfe\xfa"}',
    "not JSON": lambda body: b"{'single': quotes,}",
    "duplicate keys": lambda body: b'{"a": 1, "a": [2], "a": {"b": 3}}',
    "many keys": lambda body: _json({f"k{i}": i for i in range(20_000)}),
    "empty": lambda body: b"",
}
OUT_OF_RANGE_ID = str(10**30)


@schema.parametrize()
@settings(
    max_examples=max(1, FUZZ_EXAMPLES // 5),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_hostile_bodies_and_ids_are_refused_without_a_5xx(case, world, ids):
    auth = {"Authorization": bearer(world.owner)["HTTP_AUTHORIZATION"]}
    checks = [not_a_server_error, error_shape]
    if case.path_parameters:
        # Ids past any database integer (a lookup must answer 404, not overflow).
        case.path_parameters = dict.fromkeys(case.path_parameters, OUT_OF_RANGE_ID)
        case.call_and_validate(headers=auth, checks=checks)
        case.path_parameters = {name: ids.get(name, 1) for name in case.path_parameters}
    if case.operation.method.upper() not in ("POST", "PUT", "PATCH"):
        return
    body = case.body if not isinstance(case.body, NotSet) else {}
    for name, hostile in HOSTILE.items():
        case.media_type = "application/json"
        response = case.call(headers={**auth, "Content-Type": "application/json"},
                             data=hostile(body))  # fmt: skip
        assert response.status_code < 500, (name, case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            assert_error_shape(response.json())
