"""HTMX helpers shared by the apps' page views."""

from django.http import HttpResponse
from django.shortcuts import redirect


def redirect_page(request, url: str) -> HttpResponse:
    """A redirect that also works for HTMX requests (which would otherwise swap the target):
    they get `HX-Redirect`, so the browser loads `url` as a page."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
