"""Campaign pages: list, create wizard, live detail, controls, logs.

One template per page; an HTMX request gets the named partial of it (`page.html#part`). Views
parse input, call one selector or service, and render (STYLE rule 1).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.admin_ops.selectors import alerts_for_user
from apps.campaigns import realtime, selectors, services, transitions
from apps.campaigns.api.serializers import LogQuerySerializer
from apps.campaigns.estimate import cost_per_usd_volume
from apps.campaigns.forms import PARAMS_FIELDS, CampaignWizardForm
from apps.campaigns.models import Campaign, CampaignStatus
from apps.core.errors import DomainError, NotFound
from apps.core.htmx import redirect_page
from apps.core.pagination import PAGE_SIZE_DEFAULT, keyset_page
from apps.core.services import client_ip
from apps.core.throttling import html_throttle
from apps.execution.models import Execution
from apps.tokens.selectors import pool_selection_list, token_list
from apps.wallets.models import Wallet
from apps.wallets.selectors import wallet_list

ACTIONS = {
    "start": (services.campaign_start, "Started “{name}”: funding the maker wallets."),
    "pause": (transitions.campaign_pause, "Paused “{name}”."),
    "resume": (services.campaign_resume, "Resumed “{name}”."),
    "stop": (services.campaign_stop, "Stopping “{name}”: selling and gathering funds back."),
    "sell-only": (
        services.campaign_sell_only,
        "“{name}” sells only now: no more buys, then it stops.",
    ),
    "gather": (services.campaign_gather, "Gathering “{name}” again: selling and sweeping back."),
}


def _owned(request, campaign_id: int) -> Campaign:
    try:
        return selectors.campaign_get(owner=request.user, campaign_id=campaign_id)
    except NotFound as error:
        raise Http404(error.message) from error


# ---------------------------------------------------------------------------------------------
# List


@login_required
def campaign_list(request):
    status = request.GET.get("status", "") or request.POST.get("status", "")
    if status not in CampaignStatus.values:
        status = ""
    campaigns = selectors.campaign_list(owner=request.user, status=status or None)
    context = {
        "rows": [(campaign, realtime.campaign_actions(campaign)) for campaign in campaigns],
        "status_filter": status,
        "statuses": CampaignStatus.choices,
        "has_any": status != "" or Campaign.objects.filter(owner=request.user).exists(),
    }
    if request.htmx:
        return render(request, "campaigns/list.html#campaign-table", context)
    return render(request, "campaigns/list.html", context)


# ---------------------------------------------------------------------------------------------
# Create wizard: token → pool → wallet → params → review


def _choices(request, token_id: str | None) -> dict:
    tokens = list(token_list(owner=request.user))
    token = next((t for t in tokens if str(t.pk) == str(token_id)), None)
    selections = pool_selection_list(owner=request.user, token=token)
    wallets = wallet_list(owner=request.user).filter(kind=Wallet.Kind.CUSTODIAL, active=True)
    return {
        "tokens": [(t.pk, f"{t.symbol or t.mint} · {t.get_network_display()}") for t in tokens],
        "pools": [
            (s.pool.pk, f"{s.pool.get_dex_display()} · {s.pool.address[:8]}… ({s.pool.token})")
            for s in selections
        ],
        "wallets": [(w.pk, f"{w.label or w.short_address} · {w.short_address}") for w in wallets],
    }


def _wizard_form(request) -> CampaignWizardForm:
    data = request.POST if request.method == "POST" else None
    query = data or request.GET
    choices = _choices(request, query.get("token"))
    initial = {"token": query.get("token")}
    # The pool step keeps the chosen pool if it trades the new token, or picks the only one.
    pools = [str(value) for value, _ in choices["pools"]]
    if query.get("pool") in pools:
        initial["pool"] = query.get("pool")
    elif query.get("token") and len(pools) == 1:
        initial["pool"] = pools[0]
    return CampaignWizardForm(data, initial=initial, **choices)


def _wizard_context(form: CampaignWizardForm) -> dict:
    return {
        "form": form,
        "params_fields": PARAMS_FIELDS,
        "ready": all(len(form.fields[name].choices) > 1 for name in ("token", "funding_wallet")),
    }


def _create_kwargs(request, form: CampaignWizardForm) -> dict:
    data = form.data
    return {
        "owner": request.user, "name": data.get("name", ""), "token_id": data.get("token"),
        "pool_id": data.get("pool"), "funding_wallet_id": data.get("funding_wallet"),
        "params": form.params_input(), "ip": client_ip(request),
    }  # fmt: skip


@login_required
def campaign_new(request):
    """The wizard page; its final POST creates the campaign (and starts it on request)."""
    form = _wizard_form(request)
    if request.method == "POST":
        form.is_valid()  # choices only; the services validate the rest
        starting = request.POST.get("intent") == "start"
        if starting and not request.POST.get("confirm_start"):
            # The confirmation before money moves: a checkbox, so it works without script.
            form.add_error("confirm_start", "Tick “Start now” to confirm, or save as a draft.")
            return _wizard_response(request, form)
        try:
            campaign = services.campaign_create(**_create_kwargs(request, form))
        except DomainError as error:
            form.add_domain_errors(error.fields, error.message)
        else:
            if starting:
                try:
                    services.campaign_start(
                        campaign_id=campaign.pk, actor=request.user, owner=request.user,
                        ip=client_ip(request),
                    )  # fmt: skip
                except DomainError as error:
                    messages.error(
                        request, f"Saved “{campaign.name}” as a draft; it did not start: "
                        f"{error.message}",
                    )  # fmt: skip
                else:
                    messages.success(request, f"Created and started “{campaign.name}”.")
            else:
                messages.success(request, f"Saved “{campaign.name}” as a draft.")
            return redirect_page(request, reverse("campaigns:detail", args=[campaign.pk]))
    return _wizard_response(request, form)


def _wizard_response(request, form: CampaignWizardForm) -> HttpResponse:
    context = _wizard_context(form)
    if request.htmx:
        return render(request, "campaigns/new.html#wizard-form", context)
    status = 400 if request.method == "POST" else 200
    return render(request, "campaigns/new.html", context, status=status)


@login_required
def wizard_pools(request):
    """The pool step for the chosen token (HTMX), or the whole wizard with it chosen."""
    form = _wizard_form(request)
    if request.htmx:
        return render(request, "campaigns/new.html#pool-field", _wizard_context(form))
    return render(request, "campaigns/new.html", _wizard_context(form))


@login_required
@require_POST
def wizard_check(request):
    """As-you-type: the params through the schema and the guardrails, nothing saved. Answers
    the summary and, out of band, every params field's error slot."""
    form = _wizard_form(request)
    errors: dict[str, list[str]] = {}
    warnings = []
    try:
        _, warnings = selectors.params_check(params=form.params_input(), owner=request.user)
    except DomainError as error:
        for key, texts in (error.fields or {"params": [error.message]}).items():
            errors.setdefault(key.removeprefix("params."), []).extend(texts)
    notes = [(w.field.removeprefix("params."), w.message) for w in warnings]
    context = {
        "errors": errors,
        "warnings": notes,
        "checked": True,
        # One error slot per params field, swapped out of band beside its input.
        "slots": [
            (name, errors.get(name, []), [text for field, text in notes if field == name])
            for name in PARAMS_FIELDS
        ],
        "form": form,
    }
    if request.htmx:
        return render(request, "campaigns/new.html#wizard-check", context)
    return render(request, "campaigns/new.html", {**_wizard_context(form), **context})


class _Rollback(Exception):
    pass


@login_required
@require_POST
def wizard_review(request):
    """The review step: every rule `campaign_create` applies (run inside a transaction that is
    rolled back, so the messages are the service's own and nothing is saved), then the cost
    estimate on the pool as it is on chain now."""
    form = _wizard_form(request)
    form.is_valid()
    draft, estimate, estimate_error = None, None, ""
    try:
        with transaction.atomic():
            draft = services.campaign_create(**_create_kwargs(request, form))
            raise _Rollback
    except _Rollback:
        pass
    except DomainError as error:
        form.add_domain_errors(error.fields, error.message)
    per_100k_lamports = None
    if draft is not None:
        try:
            estimate, _ = selectors.campaign_estimate(campaign=draft)
        except DomainError as error:
            estimate_error = error.message
        price = form.cleaned_data.get("sol_price_usd")
        if estimate is not None and estimate.per_sol_volume_lamports and price:
            per_100k_lamports = cost_per_usd_volume(
                cost_per_sol_volume_lamports=estimate.per_sol_volume_lamports["total"],
                usd_volume=100_000, sol_price_usd_cents=int(price * 100),
            )  # fmt: skip
    context = {
        **_wizard_context(form),
        "draft": draft,
        "estimate": estimate,
        "estimate_error": estimate_error,
        "per_100k_lamports": per_100k_lamports,
    }
    if request.htmx:
        return render(request, "campaigns/new.html#wizard-review", context)
    return render(request, "campaigns/new.html", context, status=200 if draft else 400)


# ---------------------------------------------------------------------------------------------
# Detail and controls


@login_required
def campaign_detail(request, campaign_id: int):
    campaign = _owned(request, campaign_id)
    part = request.GET.get("part", "")
    if request.htmx and part in realtime.LIVE_PARTS:
        context = realtime.live_context(campaign, (part,))
        return render(request, f"{realtime.DETAIL_TEMPLATE}#{part}", context)
    return render(request, realtime.DETAIL_TEMPLATE, realtime.live_context(campaign))


@login_required
@require_POST
def campaign_action(request, campaign_id: int, action: str):
    campaign = _owned(request, campaign_id)
    if action not in ACTIONS:
        raise Http404("No such action.")
    service, success = ACTIONS[action]
    if action == "start" and (denied := html_throttle(request, "campaign_start")) is not None:
        return denied
    try:
        campaign = service(
            campaign_id=campaign.pk, actor=request.user, owner=request.user, ip=client_ip(request)
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success.format(name=campaign.name))
    from_list = request.POST.get("from") == "list"
    if request.htmx and from_list:
        return campaign_list(request)
    if request.htmx:
        campaign = _owned(request, campaign_id)
        context = realtime.live_context(campaign, ("campaign-head",))
        return render(request, f"{realtime.DETAIL_TEMPLATE}#campaign-head", context)
    if from_list:
        return redirect("campaigns:list")
    return redirect("campaigns:detail", campaign_id=campaign_id)


# ---------------------------------------------------------------------------------------------
# Logs


LOG_FILTERS = ("status", "side", "wallet", "since", "until")


def _log_filters(request) -> tuple[selectors.LogFilters, dict, str]:
    """The logs page's filters, parsed by the API's query serializer (one set of rules): the
    filters, the query to carry into page and CSV links, and an error message (if any)."""
    query = {
        name: request.GET[name].strip() for name in LOG_FILTERS if request.GET.get(name, "").strip()
    }
    parsed = LogQuerySerializer(data=query)
    if not parsed.is_valid():
        error = " ".join(
            f"{name.capitalize()}: {' '.join(str(m) for m in messages)}"
            for name, messages in parsed.errors.items()
        )
        return selectors.LogFilters(), {}, error
    return selectors.LogFilters(**parsed.validated_data), query, ""


@login_required
def campaign_logs(request, campaign_id: int):
    campaign = _owned(request, campaign_id)
    filters, query, error = _log_filters(request)
    cursor = request.GET.get("cursor") or None
    rows, next_cursor = [], None
    if not error:
        try:
            page = keyset_page(
                selectors.executions_filtered(campaign=campaign, filters=filters),
                cursor=cursor, limit=PAGE_SIZE_DEFAULT,
            )  # fmt: skip
            rows, next_cursor = page.rows, page.next_cursor
        except DomainError as failure:
            error = failure.message
    context = {
        "campaign": campaign,
        "rows": rows,
        "filters": filters,
        "query": query,
        "error": error,
        "statuses": Execution.Status.choices,
        "sides": Execution.Side.choices,
        "first_page": cursor is None,
        "next_url": f"?{urlencode({**query, 'cursor': next_cursor})}" if next_cursor else "",
        "first_url": f"?{urlencode(query)}",
        "csv_url": reverse("api:campaign_logs_csv", args=[campaign.pk])
        + (f"?{urlencode(query)}" if query else ""),
    }
    if request.htmx:
        return render(request, "campaigns/logs.html#log-table", context)
    return render(request, "campaigns/logs.html", context)


@login_required
def dashboard(request):
    """The signed-in home page: the user's campaigns at a glance and their open alerts."""
    # The system notices come from the `site` context processor, like on every page.
    context = {
        "summary": selectors.dashboard_summary(owner=request.user),
        "alerts": alerts_for_user(user=request.user),
    }
    if request.htmx and request.GET.get("part") == "dashboard-live":
        return render(request, "core/dashboard.html#dashboard-live", context)
    return render(request, "core/dashboard.html", context)
