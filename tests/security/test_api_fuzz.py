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
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
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


@schemathesis.check
def error_shape(ctx, response, case):
    """Every 4xx is `{"error": {"code": str, "message": str, "fields": {name: [str]}}}`."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert set(body) == {"error"}, f"not the error shape: {body}"
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, f"not the error shape: {body}"
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["fields"], dict), body
    for name, messages in error["fields"].items():
        assert isinstance(messages, list) and all(isinstance(m, str) for m in messages), name
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
