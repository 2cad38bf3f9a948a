"""Settings → webhooks and notifications pages. Each page is one template; an HTMX request gets
the named partial of it. Another user's webhook is a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError
from apps.core.htmx import redirect_page
from apps.core.services import client_ip
from apps.webhooks import forms, selectors, services
from apps.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER

# The delivery log shows the latest deliveries; the API pages through all of them.
DELIVERIES_SHOWN = 50


def _form_errors(form, error: DomainError) -> None:
    for field, field_messages in (error.fields or {None: [error.message]}).items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)


def _owned(request, webhook_id: int):
    return selectors.webhook_get(owner=request.user, webhook_id=webhook_id)  # 404 if not theirs


def _secret_page(request, webhook, secret: str, *, rotated: bool) -> HttpResponse:
    response = render(
        request, "webhooks/secret.html",
        {"webhook": webhook, "secret": secret, "rotated": rotated, "settings_tab": "webhooks"},
    )  # fmt: skip
    response["Cache-Control"] = "no-store"
    return response


@login_required
@never_cache
def webhook_list(request):
    form = forms.WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook, secret = services.webhook_create(
                owner=request.user, ip=client_ip(request), **form.cleaned_data
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            return _secret_page(request, webhook, secret, rotated=False)
    context = {
        "webhooks": selectors.webhook_list(owner=request.user),
        "form": form,
        "settings_tab": "webhooks",
    }
    if request.htmx:
        return render(request, "webhooks/list.html#webhook-form", context)
    return render(request, "webhooks/list.html", context)


@login_required
def webhook_detail(request, webhook_id: int):
    webhook = _owned(request, webhook_id)
    initial = {
        "url": webhook.url, "events": webhook.events, "description": webhook.description,
        "active": webhook.active,
    }  # fmt: skip
    form = forms.WebhookEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_update(
                owner=request.user, webhook_id=webhook.pk, ip=client_ip(request),
                **form.cleaned_data,
            )  # fmt: skip
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Webhook saved.")
            return redirect_page(request, reverse("webhooks:detail", args=[webhook.pk]))
    context = {
        "webhook": webhook,
        "form": form,
        "deliveries": selectors.webhook_deliveries(webhook=webhook)[:DELIVERIES_SHOWN],
        "settings_tab": "webhooks",
    }
    return render(request, "webhooks/detail.html", context)


@login_required
def delivery_log(request, webhook_id: int):
    webhook = _owned(request, webhook_id)
    context = {
        "webhook": webhook,
        "deliveries": selectors.webhook_deliveries(webhook=webhook)[:DELIVERIES_SHOWN],
    }
    if request.htmx:
        return render(request, "webhooks/detail.html#delivery-log", context)
    return redirect(reverse("webhooks:detail", args=[webhook.pk]) + "#delivery-log")


@login_required
@require_POST
def webhook_test(request, webhook_id: int):
    result = services.webhook_test(owner=request.user, webhook_id=webhook_id)
    webhook = _owned(request, webhook_id)
    context = {"webhook": webhook, "result": result}
    if request.htmx:
        return render(request, "webhooks/detail.html#webhook-test-result", context)
    if result.ok:
        messages.success(request, f"Ping answered {result.status_code} in {result.latency_ms} ms.")
    else:
        messages.error(request, f"Ping failed: {result.error}")
    return redirect("webhooks:detail", webhook_id=webhook.pk)


@login_required
@require_POST
@never_cache
def webhook_rotate(request, webhook_id: int):
    webhook, secret = services.webhook_rotate_secret(
        owner=request.user, webhook_id=webhook_id, ip=client_ip(request)
    )
    return _secret_page(request, webhook, secret, rotated=True)


@login_required
def webhook_delete(request, webhook_id: int):
    webhook = _owned(request, webhook_id)
    if request.method == "POST":
        services.webhook_delete(owner=request.user, webhook_id=webhook.pk, ip=client_ip(request))
        messages.success(request, f"Webhook {webhook.url} deleted.")
        return redirect_page(request, reverse("webhooks:list"))
    return render(request, "webhooks/delete.html", {"webhook": webhook, "settings_tab": "webhooks"})


@login_required
@require_POST
def delivery_resend(request, delivery_id: int):
    delivery = services.delivery_resend(owner=request.user, delivery_id=delivery_id)
    messages.success(request, f"Event {delivery.event_id} queued again.")
    return redirect_page(request, reverse("webhooks:detail", args=[delivery.webhook_id]))


@login_required
def webhook_docs(request):
    context = {
        "signature_header": SIGNATURE_HEADER,
        "timestamp_header": TIMESTAMP_HEADER,
        "settings_tab": "webhooks",
    }
    return render(request, "webhooks/docs.html", context)


@login_required
def notifications(request):
    prefs = selectors.preferences_get(user=request.user)
    form = forms.PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        services.preferences_update(user=request.user, **form.cleaned_data)
        messages.success(request, "Notification preferences saved.")
        return redirect_page(request, reverse("webhooks:notifications"))
    context = {"form": form, "settings_tab": "notifications"}
    return render(request, "webhooks/notifications.html", context)
