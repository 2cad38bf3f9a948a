"""Sessions: Postgres is the record, the cache (Redis) only saves a query per request, so a
Redis outage must not sign anybody out or fail a page (SESSION_ENGINE)."""

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

from apps.core.outage import SoftCache


class SessionStore(CachedDBStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = SoftCache(self._cache)
