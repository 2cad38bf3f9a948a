"""Wallet pages. Each page is one template; an HTMX request gets the named partial of it."""

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from apps.accounts.mfa import mfa_enabled
from apps.core.errors import DomainError, NotFound
from apps.core.htmx import redirect_page
from apps.core.services import client_ip
from apps.core.throttling import html_throttle, rate_limit
from apps.wallets import forms, selectors, services
from apps.wallets.models import Wallet

ADD_TABS = {"import": forms.ImportForm, "generate": forms.GenerateForm, "watch": forms.WatchForm}


def _form_errors(form, error: DomainError) -> None:
    for field, field_messages in (error.fields or {None: [error.message]}).items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)


def _owned_wallet(request, wallet_id: int) -> Wallet:
    try:
        return selectors.wallet_get(owner=request.user, wallet_id=wallet_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _status(request, status: int) -> int:
    """htmx does not swap 4xx answers; a partial carrying form errors must arrive as a 200."""
    return 200 if request.htmx else status


def _qr_svg(address: str) -> str:
    # segno builds the SVG from the address alone (validated base58, no markup): safe to inline.
    svg = segno.make(address, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title=f"QR code of {address}"
    )
    return mark_safe(svg)  # noqa: S308


@login_required
def wallet_list(request):
    kind = request.GET.get("kind", "")
    if kind not in ("", Wallet.Kind.MAKER):
        kind = ""
    wallets = list(selectors.wallet_list(owner=request.user, kind=kind or None))
    context = {
        "rows": selectors.wallets_with_balances(wallets=wallets),
        "kind": kind,
    }
    if request.htmx:
        return render(request, "wallets/list.html#wallet-table", context)
    return render(request, "wallets/list.html", context)


@login_required
@never_cache
@sensitive_post_parameters("secret_key")
@sensitive_variables("form")
def wallet_add(request):
    """Import / generate / watch. A `preview` post shows the address the wallet would have
    without saving (the secret field is never rendered back)."""
    tab = request.GET.get("tab", "import")
    if tab not in ADD_TABS:
        tab = "import"
    form = ADD_TABS[tab](request.POST or None)
    preview, preview_error = None, ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if "preview" in request.POST and tab != "generate":
                address, exists = selectors.wallet_address_preview(
                    owner=request.user,
                    mode=tab,
                    secret_key=data.get("secret_key", ""),
                    address=data.get("address", ""),
                )
                preview = {"address": address, "exists": exists}
            else:
                if tab in ("import", "generate"):
                    denied = html_throttle(request, "wallet_create")
                    if denied is not None:
                        return denied
                wallet = _add(request, tab, data)
                messages.success(request, f"Wallet {wallet.address} added.")
                return redirect_page(request, reverse("wallets:detail", args=[wallet.pk]))
        except DomainError as error:
            preview_error = error.message
            _form_errors(form, error)
    elif request.method == "POST" and "preview" in request.POST:
        preview_error = " ".join(message for errors in form.errors.values() for message in errors)
    context = {
        "tab": tab,
        "tabs": [("import", "Import a key"), ("generate", "Generate"), ("watch", "Watch-only")],
        "form": form,
        "preview": preview,
        "preview_error": preview_error,
    }
    if request.htmx:
        partial = "wallet-preview" if "preview" in request.POST else "wallet-add-form"
        return render(request, f"wallets/add.html#{partial}", context)
    return render(request, "wallets/add.html", context)


@sensitive_variables("data")
def _add(request, tab: str, data: dict) -> Wallet:
    ip, label = client_ip(request), data.get("label", "")
    if tab == "import":
        return services.wallet_import(
            owner=request.user, secret_key=data["secret_key"], label=label, ip=ip
        )
    if tab == "generate":
        return services.wallet_generate(owner=request.user, label=label, ip=ip)
    return services.wallet_watch(owner=request.user, address=data["address"], label=label, ip=ip)


def _airdrop_network() -> str | None:
    """The network whose RPC can airdrop to the wallets shown (None on mainnet)."""
    network = settings.SOLANA_DEFAULT_NETWORK
    return network if services.airdrop_available(network=network) else None


def _detail_context(request, wallet: Wallet, **extra) -> dict:
    return {
        "wallet": wallet,
        "airdrop_network": _airdrop_network(),
        "airdrop_choices": services.AIRDROP_SOL_CHOICES,
        "balances": selectors.wallet_balances(wallet=wallet),
        "activity": selectors.wallet_activity(wallet=wallet),
        "qr_svg": _qr_svg(wallet.address),
        "settings_form": extra.pop(
            "settings_form",
            forms.WalletSettingsForm(initial={"label": wallet.label, "active": wallet.active}),
        ),
        **extra,
    }


@login_required
def wallet_detail(request, wallet_id: int):
    """The wallet's page. An HTMX request (the Refresh button) gets the balances partial."""
    wallet = _owned_wallet(request, wallet_id)
    if request.htmx:
        context = {
            "wallet": wallet,
            "balances": selectors.wallet_balances(wallet=wallet),
            "airdrop_network": _airdrop_network(),
            "airdrop_choices": services.AIRDROP_SOL_CHOICES,
        }
        return render(request, "wallets/detail.html#wallet-balances", context)
    return render(request, "wallets/detail.html", _detail_context(request, wallet))


@login_required
@require_POST
@rate_limit("airdrop")
def wallet_airdrop(request, wallet_id: int):
    """ "Request SOL": the localnet's or devnet's faucet (the RPC's requestAirdrop)."""
    wallet = _owned_wallet(request, wallet_id)
    try:
        sol = int(request.POST.get("sol", ""))
    except ValueError:
        sol = 0
    try:
        signature = services.wallet_request_airdrop(
            owner=request.user, wallet_id=wallet.pk, network=settings.SOLANA_DEFAULT_NETWORK,
            sol=sol, ip=client_ip(request),
        )  # fmt: skip
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{sol} SOL requested (airdrop {signature[:8]}…).")
    return redirect_page(request, reverse("wallets:detail", args=[wallet.pk]))


@login_required
def wallet_edit(request, wallet_id: int):
    wallet = _owned_wallet(request, wallet_id)
    if request.method != "POST":
        return redirect("wallets:detail", wallet_id=wallet.pk)
    form = forms.WalletSettingsForm(request.POST)
    if form.is_valid():
        try:
            wallet = services.wallet_update(
                wallet_id=wallet.pk,
                owner=request.user,
                label=form.cleaned_data["label"],
                active=form.cleaned_data["active"],
                ip=client_ip(request),
            )
        except DomainError as error:
            _form_errors(form, error)
        else:
            messages.success(request, "Saved.")
            if not request.htmx:
                return redirect("wallets:detail", wallet_id=wallet.pk)
            form = forms.WalletSettingsForm(
                initial={"label": wallet.label, "active": wallet.active}
            )
    if request.htmx:
        context = {"wallet": wallet, "settings_form": form}
        return render(request, "wallets/detail.html#wallet-settings", context)
    return render(
        request, "wallets/detail.html", _detail_context(request, wallet, settings_form=form)
    )


@login_required
def wallet_verify(request, wallet_id: int):
    """Ownership proof: a POST without a signature issues a message; with one, checks it."""
    wallet = _owned_wallet(request, wallet_id)
    form = forms.VerifyForm()
    if request.method == "POST":
        try:
            if "signature" in request.POST:
                form = forms.VerifyForm(request.POST)
                if form.is_valid():
                    wallet = services.wallet_verification_complete(
                        wallet_id=wallet.pk,
                        owner=request.user,
                        signature=form.cleaned_data["signature"],
                        ip=client_ip(request),
                    )
                    messages.success(request, "Ownership verified.")
                    return redirect_page(request, reverse("wallets:detail", args=[wallet.pk]))
            else:
                services.wallet_verification_start(wallet_id=wallet.pk, owner=request.user)
        except DomainError as error:
            _form_errors(form, error)
    context = {
        "wallet": wallet,
        "challenge": selectors.wallet_verification_pending(wallet=wallet),
        "form": form,
    }
    status = _status(request, 400 if form.errors else 200)
    if request.htmx:
        return render(request, "wallets/verify.html#wallet-verify", context, status=status)
    return render(request, "wallets/verify.html", context, status=status)


@login_required
@never_cache
@sensitive_post_parameters("password", "otp_code")
@rate_limit("wallet_export")
def wallet_export(request, wallet_id: int):
    """Shows the key once, after the password and a second-factor code. Never cached
    (no-store), never kept in a session."""
    wallet = _owned_wallet(request, wallet_id)
    form = forms.ExportForm(request.POST or None)
    exported, status, retry_after = None, 200, None
    if request.method == "POST" and form.is_valid():
        try:
            exported = services.wallet_export(
                wallet_id=wallet.pk,
                owner=request.user,
                password=form.cleaned_data["password"],
                otp_code=form.cleaned_data["otp_code"],
                ip=client_ip(request),
            )
        except services.ExportThrottled as error:
            form.add_error(None, error.message)
            status, retry_after = 429, error.retry_after
        except DomainError as error:
            _form_errors(form, error)
            status = error.status_code
    context = {
        "wallet": wallet,
        "form": form,
        "exported": exported,
        "mfa_enabled": mfa_enabled(user=request.user),
    }
    template = "wallets/export.html#wallet-export" if request.htmx else "wallets/export.html"
    response = render(request, template, context, status=_status(request, status))
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
def wallet_delete(request, wallet_id: int):
    wallet = _owned_wallet(request, wallet_id)
    error_message = ""
    if request.method == "POST":
        try:
            services.wallet_delete(wallet_id=wallet.pk, owner=request.user, ip=client_ip(request))
        except DomainError as error:
            error_message = error.message
        else:
            messages.success(request, f"Wallet {wallet.address} deleted.")
            return redirect_page(request, reverse("wallets:list"))
    context = {"wallet": wallet, "error_message": error_message}
    status = _status(request, 409 if error_message else 200)
    if request.htmx:
        return render(request, "wallets/delete.html#wallet-delete", context, status=status)
    return render(request, "wallets/delete.html", context, status=status)
