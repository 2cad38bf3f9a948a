import json
import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core.api import error_body
from apps.core.logging import bound
from apps.core.outage import OUTAGE_MESSAGE, ServiceUnavailable, is_outage, retry_after
from apps.core.services import client_ip, ip_in_networks

outage_logger = logging.getLogger("apps.core.outage")


def htmx_messages_middleware(get_response):
    """Deliver Django messages to HTMX requests as an `HX-Trigger` event, so a partial swap still
    shows its toast (the full-page path renders them in the base template)."""

    def middleware(request):
        response = get_response(request)
        # A redirect (plain, or HTMX's HX-Redirect) leaves the messages for the next page.
        redirecting = 300 <= response.status_code < 400 or "HX-Redirect" in response.headers
        if not getattr(request, "htmx", False) or redirecting:
            return response
        pending = [
            {"level": message.level_tag, "text": str(message)}
            for message in messages.get_messages(request)
        ]
        if pending:
            trigger = response.headers.get("HX-Trigger")
            events = json.loads(trigger) if trigger and trigger.startswith("{") else {}
            if trigger and not events:
                events = {trigger: None}
            events["messages"] = pending
            response.headers["HX-Trigger"] = json.dumps(events)
        return response

    return middleware


def log_context_middleware(get_response):
    """Bind the signed-in user's id to every log line of the request."""

    def middleware(request):
        user = getattr(request, "user", None)
        with bound(user_id=user.pk if user is not None and user.is_authenticated else None):
            return get_response(request)

    return middleware


def admin_allowlist_middleware(get_response):
    """With ADMIN_ALLOWED_NETWORKS set, the admin site (and the operator console in it) exists
    only for those networks: anyone else gets the ordinary 404, before sign-in is even offered."""

    def middleware(request):
        networks = settings.ADMIN_ALLOWED_NETWORKS
        # Only reversed with a list set: without one, nothing here may touch the URLconf.
        if (
            networks
            and request.path.startswith(reverse("admin:index"))
            and not ip_in_networks(client_ip(request), networks)
        ):
            raise Http404("Not found.")
        return get_response(request)

    return middleware


def outage_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the API's error shape under /v1/, else a short page.

    The page is rendered without the request's context: the signed-in user, the theme and the
    system notices all need the database, which may be what is not answering."""
    if request.path.startswith("/v1/"):
        response = JsonResponse(error_body(ServiceUnavailable.code, OUTAGE_MESSAGE), status=503)
    else:
        page = render_to_string("503.html", {"message": OUTAGE_MESSAGE})
        response = HttpResponse(page, status=503)
    response.headers["Retry-After"] = retry_after()
    return response


class OutageMiddleware:
    """A page whose work needs Redis or a pooled database connection answers 503 instead of a
    500 (the API's views answer through apps.core.api.exception_handler, which does the same;
    a middleware that fails this way reaches apps.core.views.server_error)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_outage(exception):
            outage_logger.warning(
                "service unavailable", extra={"path": request.path}, exc_info=exception
            )
            return outage_response(request)
        return None
