"""Sentry is on only with SENTRY_DSN, with Django and Celery integrations, and nothing secret
leaves the process: secret-named keys anywhere in an event are replaced, frame locals dropped."""

import json
import os
import subprocess
import sys
import textwrap

from django.conf import settings

from apps.core.sentry import FILTERED, before_send

ENV = {
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "volumebot.settings.base",
    "DEBUG": "0",
    "SECRET_KEY": "s" * 50,
    "ALLOWED_HOSTS": "example.com",
    "WALLET_MASTER_KEY": "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=",
}
# Start Django, capture one exception whose frame holds a secret, print what would be sent.
SCRIPT = textwrap.dedent(
    """
    import json, django, sentry_sdk
    django.setup()
    client = sentry_sdk.get_client()
    sent = []
    class Transport(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope):
            sent.extend(item.payload.json for item in envelope.items if item.payload.json)
    client.transport = Transport()
    def sign(secret_key, wrapped_dek):
        password = "hunter2-password"
        raise RuntimeError("boom")
    try:
        sign("5ecretKeyBase58", b"dek-bytes")
    except RuntimeError:
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("wallet", {"encrypted_secret": "ciphertext", "address": "Addr1"})
            sentry_sdk.capture_exception()
    sentry_sdk.flush()
    print(json.dumps({
        "enabled": client.is_active(),
        "integrations": sorted(client.integrations),
        "events": sent,
    }))
    """
)


def run(**variables) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**ENV, **variables}, cwd=settings.BASE_DIR,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_stays_off_without_a_dsn():
    assert run()["enabled"] is False


def test_it_reports_with_django_and_celery_integrations_and_no_secret():
    out = run(SENTRY_DSN="https://public@127.0.0.1:9/1")

    assert out["enabled"] is True
    assert {"django", "celery"} <= set(out["integrations"])
    (event,) = out["events"]
    text = json.dumps(event)
    assert "boom" in text
    for secret in ("5ecretKeyBase58", "hunter2-password", "dek-bytes", "ciphertext"):
        assert secret not in text
    assert event["extra"]["wallet"] == {"encrypted_secret": FILTERED, "address": "Addr1"}
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert all("vars" not in frame for frame in frames)


def test_it_scrubs_headers_cookies_bodies_and_breadcrumbs():
    event = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "X-Request-ID": "r1"},
            "cookies": {"sessionid": "s1", "csrftoken": "c1"},
            "data": {"password": "p", "secret_key": "k", "name": "Run",
                     "params": {"wrapped_dek": "w", "token_in_raw": "5"}},
            "query_string": "access_token=abc&page=2",
        },
        "breadcrumbs": {"values": [{"data": {"api_key": "x", "url": "/v1/"}}]},
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"key": "k"}}]}}]},
    }  # fmt: skip

    scrubbed = before_send(event, {})

    request = scrubbed["request"]
    assert request["headers"] == {"Authorization": FILTERED, "X-Request-ID": "r1"}
    assert request["cookies"] == FILTERED
    assert request["data"] == {
        "password": FILTERED, "secret_key": FILTERED, "name": "Run",
        "params": {"wrapped_dek": FILTERED, "token_in_raw": "5"},
    }  # fmt: skip
    assert request["query_string"] == FILTERED
    assert scrubbed["breadcrumbs"]["values"] == [{"data": {"api_key": FILTERED, "url": "/v1/"}}]
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"] == [{}]


def test_it_scrubs_header_pairs():
    event = {"request": {"headers": [["Authorization", "Bearer abc"], ["Accept", "*/*"]]}}

    assert before_send(event, {})["request"]["headers"] == [
        ["Authorization", FILTERED], ["Accept", "*/*"],
    ]  # fmt: skip
