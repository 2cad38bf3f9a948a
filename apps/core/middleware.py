import json

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.urls import reverse

from apps.core.logging import bound
from apps.core.services import client_ip, ip_in_networks


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
