from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.db.utils import Error as DatabaseError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from redis.exceptions import RedisError

from apps.core.api import json_not_found


def landing(request):
    if request.user.is_authenticated:
        return redirect("core:dashboard")
    return render(request, "core/landing.html")


@login_required
def dashboard(request):
    return render(request, "core/dashboard.html")


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


@never_cache
def readyz(request):
    """Readiness: every dependency a request needs answers; 503 (with the failing parts) if not."""
    components = {"database": _check_database(), "redis": _check_redis()}
    ready = all(state == "ok" for state in components.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "components": components},
        status=200 if ready else 503,
    )


def not_found(request, exception=None):
    """404s speak JSON under the API prefix and HTML everywhere else."""
    if request.path.startswith("/v1/"):
        return json_not_found(request)
    return render(request, "404.html", status=404)
