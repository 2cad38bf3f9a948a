"""Client addresses against the real web server process, started as `make run` starts it
(`volumebot.devstack.web_command`): the X-Forwarded-For handling happens before Django sees
the request, so an in-process test client could not tell whether it is right."""

import os
import re
import socket
import subprocess
import time

import httpx
import pytest
from django.contrib.auth.hashers import make_password

from apps.core.models import AuditEvent
from tests.factories import PASSWORD, UserFactory
from tests.support.database import database_url_for_tests, end_other_sessions
from volumebot.devstack import BASE_DIR, web_command

TOKEN_LIMIT = 3
PEER = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_web_server(log_path, **overrides: str) -> tuple[subprocess.Popen, str]:
    """The web tier on this run's test database and Redis, with `make run`'s settings."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.base",
        "DEBUG": "1",
        "DATABASE_URL": database_url_for_tests(),
        "WEB_CONCURRENCY": "1",
        "RATE_LIMIT_TOKEN": f"{TOKEN_LIMIT}/hour",
        "SIGNIN_FAILURE_LIMIT": "1000",
        **overrides,
    }
    process = subprocess.Popen(
        web_command(host="127.0.0.1", port=port),
        cwd=BASE_DIR,
        env=environment,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two servers for the module: one with no trusted proxy (as `make run`), one behind
    trusted proxies (loopback, where the test's requests come from, and 10.0.0.0/8)."""
    logs = tmp_path_factory.mktemp("web")
    with django_db_blocker.unblock():
        untrusted = start_web_server(logs / "untrusted.log")
        trusted = start_web_server(logs / "trusted.log", TRUSTED_PROXIES=f"{PEER}/32,10.0.0.0/8")
    yield {"untrusted": untrusted[1], "trusted": trusted[1]}
    for process, _ in (untrusted, trusted):
        process.terminate()
        process.wait(timeout=20)
    with django_db_blocker.unblock():
        end_other_sessions()


def wrong_password(url: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/auth/token",
        json={"email": "nobody@example.com", "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_limited_on_the_peer(servers):
    url = servers["untrusted"]
    answers = [wrong_password(url, f"198.51.100.{n}").status_code for n in range(TOKEN_LIMIT)]
    assert answers == [401] * TOKEN_LIMIT
    refused = wrong_password(url, "198.51.100.200")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"


def test_behind_a_trusted_proxy_each_client_is_limited_on_its_own_address(servers):
    url = servers["trusted"]
    # The proxy appends the address it saw; a client-sent first entry is not trusted.
    first = "203.0.113.7"
    answers = [wrong_password(url, f"192.0.2.{n}, {first}").status_code for n in range(3)]
    assert answers == [401] * TOKEN_LIMIT
    assert wrong_password(url, first).status_code == 429
    assert wrong_password(url, "203.0.113.8").status_code == 401


def test_a_proxy_of_ours_in_the_chain_is_skipped(servers):
    url = servers["trusted"]
    for _ in range(TOKEN_LIMIT):
        assert wrong_password(url, "203.0.113.9, 10.1.2.3").status_code == 401
    assert wrong_password(url, "203.0.113.9").status_code == 429


def signin_page_post(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    form = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    return client.post(path, data={**data, "csrfmiddlewaretoken": token})


@pytest.mark.parametrize("server", ["untrusted", "trusted"])
def test_a_malformed_forwarded_for_gets_the_normal_answer(servers, server, transactional_db):
    url = servers[server]
    # Hashed with the server's hasher (the suite's settings use a fast one it does not know).
    alice = UserFactory(email="alice@example.com")
    alice.password = make_password(PASSWORD, hasher="argon2")
    alice.save(update_fields=["password"])
    headers = {"X-Forwarded-For": "not-an-ip"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        signin = signin_page_post(
            client, "/accounts/signin/", {"username": alice.email, "password": "wrong-password"}
        )
        assert signin.status_code == 200 and "do not match an account" in signin.text
        signup = signin_page_post(
            client,
            "/accounts/signup/",
            {
                "email": "newcomer@example.com",
                "password": "a-long-fresh-password",
                "password_again": "a-long-fresh-password",
            },
        )
        assert signup.status_code in (200, 302), signup.text[-2000:]
        token = client.post("/v1/auth/token", json={"email": alice.email, "password": PASSWORD})
        assert token.status_code == 200
        created = client.post(
            "/v1/wallets",
            json={"mode": "generate", "label": "through a proxy"},
            headers={"Authorization": f"Bearer {token.json()['access']}"},
        )
        assert created.status_code == 201, created.text
    audited = AuditEvent.objects.filter(actor=alice, action="wallet.generate").get()
    assert audited.ip == PEER
