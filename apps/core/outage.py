"""Degrade, don't crash, when Redis is down or the database pool has no connection to lend.

Redis holds the cache (rate-limit counters, short-lived challenges, pool and balance caches),
the session cache, the channel layer and the Celery broker. When it does not answer:

- what needs it (enqueueing work, a key-export window, a wallet challenge) answers 503 with
  Retry-After: the API in its error shape (apps.core.api), pages with a short page
  (apps.core.middleware.OutageMiddleware);
- what only uses it to go faster (sessions, pool and balance caches) falls back to Postgres or
  the chain (SoftCache);
- rate limits decide per scope (apps.core.throttling.FAIL_CLOSED_SCOPES);
- realtime publishes are best-effort (apps.core.realtime): a lost notice never fails a request.

A web process whose connection pool stays empty for DB_POOL_TIMEOUT seconds (every connection
lent to a slower request) takes the same 503 path: the request was not wrong and a retry a moment
later succeeds, so it is not a 500 (is_outage).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError as DjangoOperationalError
from kombu.exceptions import OperationalError as BrokerError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.core.errors import DomainError

logger = logging.getLogger(__name__)

# Redis not answering: refused or dropped connections and timeouts, from the cache, the
# channel layer (the same redis-py errors) and the Celery broker (kombu wraps them).
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, BrokerError, ConnectionError)
OUTAGE_MESSAGE = "This needs a service that is not answering right now; try again shortly."


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str = OUTAGE_MESSAGE, **kwargs):
        super().__init__(message, **kwargs)


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means a service is not answering now (answer 503), not a bug (500).

    Django wraps the pool's PoolTimeout in its own OperationalError; any other OperationalError
    (a broken query, a lost server) stays a 500."""
    if isinstance(exc, (*REDIS_DOWN, ServiceUnavailable, PoolTimeout)):
        return True
    return isinstance(exc, DjangoOperationalError) and isinstance(exc.__cause__, PoolTimeout)


def retry_after() -> str:
    return str(settings.OUTAGE_RETRY_AFTER_S)


class SoftCache:
    """A cache used only to go faster: when Redis does not answer, a read is a miss and a write
    is skipped, so the caller falls back to the source (Postgres, the chain)."""

    def __init__(self, cache):
        self._cache = cache

    def get(self, key, default=None):
        try:
            return self._cache.get(key, default)
        except REDIS_DOWN:
            return default

    def set(self, key, value, timeout=None):
        try:
            self._cache.set(key, value, timeout)
        except REDIS_DOWN:
            logger.warning("cache write skipped: redis unavailable", extra={"key": key})

    def delete(self, key):
        try:
            return self._cache.delete(key)
        except REDIS_DOWN:
            return False

    def __contains__(self, key):
        try:
            return key in self._cache
        except REDIS_DOWN:
            return False

    async def aget(self, key, default=None):
        try:
            return await self._cache.aget(key, default)
        except REDIS_DOWN:
            return default

    async def aset(self, key, value, timeout=None):
        try:
            await self._cache.aset(key, value, timeout)
        except REDIS_DOWN:
            logger.warning("cache write skipped: redis unavailable", extra={"key": key})

    async def adelete(self, key):
        try:
            return await self._cache.adelete(key)
        except REDIS_DOWN:
            return False


# The default cache, for what is only cached to go faster (pool discovery, wallet balances).
soft_cache = SoftCache(cache)
