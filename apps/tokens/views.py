from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.chain import ChainUnavailable
from apps.core.errors import DomainError, NotFound
from apps.tokens import forms
from apps.tokens.selectors import (
    pool_candidates,
    pool_selection_list,
    seeded_tokens,
    token_get,
    token_list,
)
from apps.tokens.services import mint_read, token_register
from apps.tokens.services import pool_select as pool_select_service


def _form_errors(form, error: DomainError) -> None:
    for field, field_messages in (error.fields or {None: [error.message]}).items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)


@login_required
def token_index(request):
    return render(request, "tokens/index.html", {"tokens": token_list(owner=request.user)})


@login_required
def token_register_view(request):
    """The register form. An HTMX post with `preview` renders the metadata read from chain
    without saving; a plain post saves and goes to the token's page."""
    form = forms.RegisterTokenForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        network, mint = form.cleaned_data["network"], form.cleaned_data["mint"]
        try:
            if "preview" in request.POST:
                preview = mint_read(network=network, mint=mint)
            else:
                token = token_register(owner=request.user, network=network, mint=mint)
                messages.success(request, f"Registered {token.symbol or token.mint}.")
                return redirect("tokens:detail", token_id=token.pk)
        except DomainError as error:
            _form_errors(form, error)
    context = {"form": form, "preview": preview}
    if request.htmx:
        return render(request, "tokens/register.html#register-form", context)
    network = settings.SOLANA_DEFAULT_NETWORK
    try:
        context["seeded"] = seeded_tokens(network=network)
    except ChainUnavailable:
        context["seeded"] = []  # the form still works; the shortcut list just stays empty
    context["seeded_network"] = network
    return render(request, "tokens/register.html", context)


def _owned_token(request, token_id):
    try:
        return token_get(owner=request.user, token_id=token_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _detail_context(request, token, *, refresh: bool = False) -> dict:
    selections = pool_selection_list(owner=request.user, token=token)
    # An unreachable RPC must not take the page down (it was a 500): say so instead.
    try:
        candidates = pool_candidates(network=token.network, mint=token.mint, refresh=refresh)
        chain_error = ""
    except ChainUnavailable as error:
        candidates, chain_error = [], error.message
    return {
        "token": token,
        "candidates": candidates,
        "chain_error": chain_error,
        "selected": {selection.pool.address for selection in selections},
    }


@login_required
def token_detail(request, token_id: int):
    token = _owned_token(request, token_id)
    context = _detail_context(request, token, refresh=request.GET.get("refresh") == "1")
    if request.htmx:
        return render(request, "tokens/detail.html#pool-candidates", context)
    return render(request, "tokens/detail.html", context)


@login_required
@require_POST
def pool_select(request, token_id: int):
    token = _owned_token(request, token_id)
    try:
        pool_select_service(
            owner=request.user, token_id=token.pk, address=request.POST.get("address", "")
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Pool selected: campaigns for this token can now use it.")
    if request.htmx:
        return render(
            request, "tokens/detail.html#pool-candidates", _detail_context(request, token)
        )
    return redirect("tokens:detail", token_id=token.pk)
