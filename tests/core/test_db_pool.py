"""Web processes borrow database connections from a pool sized by the settings; Celery workers
keep their own connection per thread. Each case is a fresh process, set up the way that kind of
process sets itself up (the pool is chosen when the settings load)."""

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

WEB = """
import json, os
import volumebot.asgi  # what uvicorn imports in each web process
from django.db import connection
pids = []
for _ in range(3):  # three requests, one after another
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids.append(cursor.fetchone()[0])
    connection.close()  # what Django does at the end of each request
pool = connection.pool
print(json.dumps({
    "pool": connection.settings_dict["OPTIONS"].get("pool"),
    "max_age": connection.settings_dict["CONN_MAX_AGE"],
    "pids": pids,
    "size": None if pool is None else pool.get_stats()["pool_size"],
}))
"""

WORKER = """
import json
import django
from volumebot.celery import app  # what `celery -A volumebot worker` imports
django.setup()
from django.db import connection
print(json.dumps({
    "pool": connection.settings_dict["OPTIONS"].get("pool"),
    "max_age": connection.settings_dict["CONN_MAX_AGE"],
}))
"""


def run(script: str, **environment: str) -> dict:
    database = urlsplit(os.environ["DATABASE_URL"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DB_")},
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.test",
        # This test's own database, not the development one.
        "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"])),
        "DB_CONN_MAX_AGE": "60",
        **environment,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_process_reuses_pooled_connections_sized_by_the_settings():
    answer = run(WEB, DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_TIMEOUT="5")

    assert answer["pool"] == {"min_size": 1, "max_size": 1, "timeout": 5.0}
    assert answer["max_age"] == 0
    # One backend served all three requests: no connection opened per request.
    assert len(set(answer["pids"])) == 1
    assert answer["size"] == 1


def test_a_web_process_can_turn_the_pool_off():
    answer = run(WEB, DB_POOL="0")

    assert answer["pool"] is None
    assert answer["max_age"] == 60
    assert answer["size"] is None


def test_a_celery_worker_keeps_its_own_connections_without_a_pool():
    answer = run(WORKER)

    assert answer == {"pool": None, "max_age": 60}


TEST_SERVER = """
import json, os
import django
django.setup()  # as pytest-django does, before a test serves the app in a thread
import volumebot.asgi
from django.db import connection
pool = connection.settings_dict["OPTIONS"].get("pool")
print(json.dumps({"env": os.environ.get("DB_POOL"), "pool": pool}))
"""


def test_serving_the_app_from_a_set_up_process_leaves_its_workers_unpooled():
    # Worker processes a test run starts inherit its environment: it must not say DB_POOL.
    assert run(TEST_SERVER) == {"env": None, "pool": None}


EMPTY_POOL = """
import json
import volumebot.asgi  # a web process: DB_POOL on, one connection at most
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from tests.support.web import bearer

user = get_user_model().objects.create_user(email="pool@example.com", password="x" * 16)
api = Client(raise_request_exception=False, headers={"accept": "application/json"})
page = Client(raise_request_exception=False)
page.force_login(user)
token = bearer(user)
served = page.get("/campaigns/").status_code  # the pool serves a request while it can
connection.close()  # back to the pool: its one connection is now free

held = connection.pool.getconn()  # another borrower holds the only connection
try:
    answers = {
        "api": api.get("/v1/campaigns", **token),
        "page": page.get("/campaigns/"),
    }
finally:
    connection.pool.putconn(held)
print(json.dumps({
    "served": served,
    **{
        name: {
            "status": r.status_code,
            "retry_after": r.headers.get("Retry-After"),
            "type": r.headers["Content-Type"],
            "body": r.content.decode(),
        }
        for name, r in answers.items()
    },
}))
"""


@pytest.mark.django_db(transaction=True)  # the web process's user is committed, then flushed
def test_an_empty_connection_pool_answers_503_with_retry_after_not_500():
    answer = run(EMPTY_POOL, DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_TIMEOUT="0.2")

    assert answer["served"] == 200
    api, page = answer["api"], answer["page"]
    assert (api["status"], api["retry_after"]) == (503, "10")
    assert json.loads(api["body"])["error"]["code"] == "service_unavailable"
    # The page fails in a middleware (the signed-in user's lookup), before any view runs.
    assert (page["status"], page["retry_after"]) == (503, "10")
    assert page["type"].startswith("text/html")
    assert "Temporarily unavailable" in page["body"]
