"""Rate limits: one implementation for the API and the HTML views.

The API uses the DRF throttle classes below (DEFAULT_THROTTLE_CLASSES); HTML views use the
`rate_limit` decorator / `html_throttle`, which run the same classes against the same counters in
the default cache (Redis). Rates come from settings.RATE_LIMITS (`"10/min"`, `"5/hour"`), read per
request so the environment and tests can change them. A denied request by a signed-in user
raises (or bumps) a `rate_limit` alert once per window, which feeds the operator console's
abuse signals.
"""

import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
        if super().allow_request(request, view):
            return True
        rate_limit_hit(request, scope=self.scope, window_s=self.duration)
        return False


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
    if not cache.add(f"throttle:alerted:{scope}:{user.pk}", 1, timeout=window_s):
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
