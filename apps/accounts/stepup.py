"""A fresh second-factor code for an admin action: the operator's verified session is not
enough for what changes who can reach money (allowing mainnet) or what protects every key
(re-wrapping data keys). The action first answers a confirmation page asking for a code, the
way Django's own delete confirmation works; the page posts the action back with the code."""

from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from apps.accounts.mfa import mfa_check
from apps.core.errors import DomainError
from apps.core.services import client_ip


def code_confirmed(modeladmin, request, queryset, *, action: str, title: str):
    """None when the request carries a right code (go on with the action); otherwise the
    confirmation page (with the error of a wrong code) to answer instead."""
    error = ""
    if "otp_code" in request.POST:
        try:
            mfa_check(
                user=request.user, code=request.POST["otp_code"], action=action,
                ip=client_ip(request),
            )  # fmt: skip
        except DomainError as refused:
            error = refused.message
        else:
            return None
    context = {
        **admin.site.each_context(request),
        "title": title,
        "action": request.POST.get("action", ""),
        "objects": list(queryset),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "error": error,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(
        request, "admin/confirm_with_code.html", context, status=400 if error else 200
    )
