"""/readyz reports each component; the RPC pool degrades readiness, it never fails it."""

import pytest

pytestmark = pytest.mark.django_db


def test_it_is_ready_when_database_redis_and_the_preferred_endpoint_answer(client, localnet):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {"database": "ok", "redis": "ok", "rpc": "ok"},
    }


def test_it_is_degraded_when_only_a_fallback_endpoint_answers(
    client, localnet, settings, unused_tcp_port
):
    settings.SOLANA_RPC_URLS = {
        **settings.SOLANA_RPC_URLS,
        "localnet": [f"http://127.0.0.1:{unused_tcp_port}", localnet.url],
    }

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "components": {
            "database": "ok",
            "redis": "ok",
            "rpc": "degraded: only fallback endpoints answer (localnet-1)",
        },
    }


def test_it_reports_the_rpc_down_without_failing_readiness(client, settings, unused_tcp_port):
    settings.SOLANA_RPC_URLS = {
        **settings.SOLANA_RPC_URLS, "localnet": [f"http://127.0.0.1:{unused_tcp_port}"],
    }  # fmt: skip

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "components": {"database": "ok", "redis": "ok", "rpc": "down: no endpoint answers"},
    }


def test_it_reports_a_network_without_endpoints(client, settings):
    settings.SOLANA_DEFAULT_NETWORK = "devnet"
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "devnet": []}

    response = client.get("/readyz")

    assert response.json()["components"]["rpc"] == "down: no endpoint configured"
