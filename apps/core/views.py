import asyncio
import sys

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.utils import Error as DatabaseError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from apps.chain.errors import ChainError
from apps.chain.rpc import run_sync
from apps.core.api import json_not_found
from apps.core.chain import rpc_pool
from apps.core.errors import DomainError
from apps.core.middleware import outage_response
from apps.core.outage import is_outage


def landing(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "core/landing.html")


@never_cache
def healthz(request):
    """Liveness: the process answers. Nothing else is checked, so a broken database never makes
    the orchestrator restart healthy web processes."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return f"down: {type(error).__name__}"
    return "ok"


def _check_redis() -> str:
    try:
        cache.get("readyz")  # a round trip to the Redis behind the cache
    except RedisError as error:
        return f"down: {type(error).__name__}"
    return "ok"


def _check_rpc() -> str:
    """The default network's RPC pool, each endpoint asked for its slot (bounded time).
    "degraded" when only fallback endpoints answer, "down" when none does."""
    network = settings.SOLANA_DEFAULT_NETWORK
    try:
        pool = rpc_pool(network)
        health = run_sync(
            asyncio.wait_for(pool.probe(), getattr(settings, "READYZ_RPC_TIMEOUT_S", 2.0))
        )
    except DomainError:
        return "down: no endpoint configured"
    except (TimeoutError, ChainError):
        health = pool.health()
    available = [endpoint.available for endpoint in health]
    if available and available[0]:
        return "ok"
    if any(available):
        up = ", ".join(e.name for e in health if e.available)
        return f"degraded: only fallback endpoints answer ({up})"
    return "down: no endpoint answers"


@never_cache
def readyz(request):
    """Readiness: every dependency a request needs answers; 503 (with the failing parts) if not.

    The database and Redis decide readiness. The RPC pool is reported but only degrades the
    status: pages and the API still work without the chain, and taking every web process out of
    rotation because an RPC provider is down would turn a partial outage into a full one."""
    components = {"database": _check_database(), "redis": _check_redis(), "rpc": _check_rpc()}
    ready = components["database"] == "ok" and components["redis"] == "ok"
    status = "unavailable" if not ready else "ok" if components["rpc"] == "ok" else "degraded"
    return JsonResponse({"status": status, "components": components}, status=200 if ready else 503)


def server_error(request):
    """An uncaught exception: Django calls this while handling it. One raised by a middleware
    (the signed-in user's lookup when the connection pool is empty) never reaches
    OutageMiddleware.process_exception, so an outage is recognised here too."""
    if is_outage(sys.exc_info()[1]):
        return outage_response(request)
    return defaults.server_error(request)


def not_found(request, exception=None):
    """404s speak JSON under the API prefix and HTML everywhere else."""
    if request.path.startswith("/v1/"):
        return json_not_found(request)
    return render(request, "404.html", status=404)
