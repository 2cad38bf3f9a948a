"""Rate limits: one implementation for the API and the HTML views.

The API uses the DRF throttle classes below (DEFAULT_THROTTLE_CLASSES); HTML views use the
`rate_limit` decorator / `html_throttle`, which run the same classes against the same counters in
the default cache (Redis). Rates come from settings.RATE_LIMITS (`"10/min"`, `"5/hour"`), read per
request so the environment and tests can change them. Each limit is a fixed window (a minute, an
hour… aligned to the clock) counted with one Redis round trip per request: DRF's sliding window
reads and rewrites the list of every request's time in the window on each request, which at the
`user` rate of a busy API client is hundreds of timestamps unpickled and pickled per request.
A client can pass up to twice a limit across a window boundary; no more. A denied request by a
signed-in user raises (or bumps) a `rate_limit` alert once per window, which feeds the operator
console's abuse signals.
"""

import json
import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from apps.core.outage import REDIS_DOWN, ServiceUnavailable

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# When Redis (the counters) is down, these limits fail closed (503 + Retry-After): they stand
# between an attacker and guessing passwords, probing which addresses have accounts, or draining
# key exports, and an attacker who can knock Redis over must not lift them with it (django-axes
# keeps counting failed sign-ins in Postgres, but sign-ups, resets and exports have no second
# line). Every other limit fails open: `user`/`anon` only share capacity fairly, and losing them
# for an outage keeps reads (a bot's status polls, the dashboards) working; starts and webhook
# tests need the broker anyway, so they answer 503 when they enqueue.
FAIL_CLOSED_SCOPES = frozenset(
    {"signin", "signup", "password_reset", "token", "wallet_export", "mfa"}
)

# What the user is told a scope limits (the alert message and the 429 page).
SCOPE_LABELS = {
    "anon": "requests",
    "user": "requests",
    "signin": "sign-in attempts",
    "signup": "sign-ups",
    "password_reset": "password reset requests",
    "token": "token requests",
    "wallet_create": "wallet imports and generations",
    "wallet_export": "key exports",
    "airdrop": "SOL requests",
    "campaign_start": "campaign starts",
    "webhook_test": "webhook tests",
    "mfa": "two-factor codes",
}


def _user(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class _RateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose scope is chosen per request and whose rate is read per request
    (DRF binds its rate table at import time, which neither the environment nor tests reach)."""

    cache = cache

    def __init__(self):  # the scope is only known in allow_request
        pass

    def scope_for(self, request, view) -> str | None:
        raise NotImplementedError

    def get_rate(self):
        return settings.RATE_LIMITS.get(self.scope)

    def get_cache_key(self, request, view):
        user = _user(request)
        ident = f"u{user.pk}" if user is not None else f"ip{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        self.scope = self.scope_for(request, view)
        if self.scope is None:
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            count = self._count(request, view)
        except REDIS_DOWN as error:
            if self.scope in FAIL_CLOSED_SCOPES:
                raise ServiceUnavailable() from error
            logger.warning("rate limit skipped: redis unavailable", extra={"scope": self.scope})
            return True
        if count <= self.num_requests:
            return True
        rate_limit_hit(request, scope=self.scope, window_s=self.duration)
        return False

    def _count(self, request, view) -> int:
        """This request's number in the current fixed window of the limit."""
        self.now = self.timer()
        window = int(self.now // self.duration)
        key = self.cache.make_and_validate_key(f"{self.get_cache_key(request, view)}:{window}")
        # Django's cache API has no pipeline: its Redis client comes from the backend's factory.
        client = self.cache._cache.get_client(key, write=True)
        # One round trip: create the window's counter (expiring with the window) if it is new,
        # then count this request.
        pipeline = client.pipeline(transaction=False)
        pipeline.set(key, 0, ex=self.duration, nx=True)
        pipeline.incr(key)
        _, count = pipeline.execute()
        return count

    def wait(self) -> float:
        """Seconds until the current window ends."""
        return self.duration - self.now % self.duration


class DefaultThrottle(_RateThrottle):
    """Every request: `user` per signed-in user, `anon` per client IP."""

    def scope_for(self, request, view):
        return "user" if _user(request) is not None else "anon"


class ScopeThrottle(_RateThrottle):
    """The stricter limit named by the view's `throttle_scope`, on writes only (a view's GET,
    such as the wallet list, is not a wallet creation)."""

    def scope_for(self, request, view):
        if request.method in SAFE_METHODS:
            return None
        return getattr(view, "throttle_scope", None)


# Sent (in the request) when a signed-in user hits a limit, once per user, scope and window;
# keyword arguments `user`, `scope` and `label` (what the limit counts, for people).
rate_limit_exceeded = Signal()


def rate_limit_hit(request, *, scope: str, window_s: int) -> None:
    """Count a denied request for the abuse signals: one alert bump per user, scope and window,
    so a client hammering a limit costs one cache round trip per request, not a database write."""
    user = _user(request)
    if user is None:
        return
    try:
        first_in_window = cache.add(f"throttle:alerted:{scope}:{user.pk}", 1, timeout=window_s)
    except REDIS_DOWN:
        return  # the abuse signal is best-effort: the 429 itself stands
    if not first_in_window:
        return
    # A signal: the operator console (which raises the alert) builds on core, not the other
    # way round.
    rate_limit_exceeded.send(
        sender=None, user=user, scope=scope, label=SCOPE_LABELS.get(scope, scope)
    )


class _ScopedView:
    def __init__(self, scope: str):
        self.throttle_scope = scope


def throttle_wait(request, scope: str, *, defaults: bool = True) -> int | None:
    """Run the `scope` limit (and with `defaults` the per-user/IP one) for a request, as the API
    does. None when allowed, else the seconds until the next request would be."""
    view = _ScopedView(scope)
    waits = []
    throttles = (DefaultThrottle(), ScopeThrottle()) if defaults else (ScopeThrottle(),)
    for throttle in throttles:
        if not throttle.allow_request(request, view):
            waits.append(throttle.wait())
    if not waits:
        return None
    return max(1, int(max(w or 1 for w in waits) + 0.999))


def too_many_requests(request: HttpRequest, *, scope: str, wait: int) -> HttpResponse:
    """429 for a person: a page, or for HTMX an error toast (htmx does not swap a 4xx)."""
    label = SCOPE_LABELS.get(scope, "requests")
    minutes, seconds = divmod(wait, 60)
    when = f"{minutes} minute(s)" if minutes else f"{seconds} second(s)"
    message = f"Too many {label}. Try again in {when}."
    response = render(request, "429.html", {"message": message, "wait": wait}, status=429)
    if getattr(request, "htmx", False):
        response.headers["HX-Trigger"] = json.dumps(
            {"messages": [{"level": "error", "text": message}]}
        )
        response.headers["HX-Reswap"] = "none"
    response.headers["Retry-After"] = str(wait)
    return response


def html_throttle(request: HttpRequest, scope: str) -> HttpResponse | None:
    """The 429 response when `request` is over a limit, else None."""
    wait = throttle_wait(request, scope)
    if wait is None:
        return None
    return too_many_requests(request, scope=scope, wait=wait)


def api_throttle(request, scope: str) -> None:
    """For an API view whose scope depends on the body (e.g. only some modes of a POST): count
    the request against `scope` (the defaults ran already) and raise 429 when over it."""
    wait = throttle_wait(request, scope, defaults=False)
    if wait is not None:
        raise Throttled(wait=wait)


def rate_limit(scope: str) -> Callable:
    """Decorate an HTML view: writes (POST…) count against `scope` and the defaults."""

    def decorator(view_func):
        @wraps(view_func)
        def wrapped(request, *args, **kwargs):
            denied = html_throttle(request, scope)
            if denied is not None:
                return denied
            return view_func(request, *args, **kwargs)

        return wrapped

    return decorator
