import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_liveness(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_is_ready_when_database_and_redis_answer(client, localnet):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {"database": "ok", "redis": "ok", "rpc": "ok"},
    }


def test_it_is_not_ready_when_redis_is_down(client, settings, unused_tcp_port, localnet):
    # A port nothing listens on: the cache's Redis is unreachable.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{unused_tcp_port}/0",
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "components": {"database": "ok", "redis": "down: ConnectionError", "rpc": "ok"},
    }
