"""The control room (inside the admin) and the Prometheus endpoint. Thin: parse, call one
selector or service, render."""

import secrets

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.admin_ops import selectors, services
from apps.core.metrics import exposed_registry
from apps.core.models import SystemSwitch
from apps.core.services import client_ip, ip_in_networks


def _control_room_context(request) -> dict:
    return {
        **admin.site.each_context(request),
        "title": "Control room",
        "kpis": selectors.control_room_kpis(),
        "queues": selectors.queue_depths(),
        "workers": selectors.worker_heartbeats(),
        "endpoints": selectors.rpc_health(),
        "budgets": selectors.budget_use(),
        "shares": selectors.fair_share_rows(),
        "flagged": selectors.flagged_users(),
        "alerts": selectors.alerts_open(),
        "pause_all": SystemSwitch.objects.filter(name=SystemSwitch.Name.PAUSE_ALL).first(),
        "refresh_s": getattr(settings, "OPS_CONTROL_ROOM_REFRESH_S", 10),
    }


@never_cache
def control_room(request):
    """KPIs, queues, workers, RPC endpoints, request budgets and fair shares, dead letters and
    flagged users; the `stats`
    partial answers the page's HTMX polling."""
    template = "admin_ops/control_room.html"
    if request.htmx:
        template += "#stats"
    return TemplateResponse(request, template, _control_room_context(request))


@require_POST
def pause_all(request):
    enabled = request.POST.get("enabled") == "1"
    services.pause_all_set(
        enabled=enabled, actor=request.user, message=request.POST.get("message", ""),
        ip=client_ip(request),
    )  # fmt: skip
    messages.success(request, "All campaigns are paused." if enabled else "The pause is lifted.")
    return redirect("admin:control_room")


def _metrics_allowed(request) -> bool:
    """A scrape must carry METRICS_TOKEN as a bearer token, or come from METRICS_ALLOWED_NETWORKS.
    With neither set the endpoint is closed."""
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return secrets.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    return ip_in_networks(client_ip(request), getattr(settings, "METRICS_ALLOWED_NETWORKS", []))


@never_cache
def metrics(request):
    """Prometheus text exposition of this process's registry, gauges refreshed first."""
    if not _metrics_allowed(request):
        return HttpResponseForbidden("metrics: bearer token or allowed network required\n")
    services.metrics_refresh()
    return HttpResponse(generate_latest(exposed_registry()), content_type=CONTENT_TYPE_LATEST)
