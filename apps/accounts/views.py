import base64

import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from apps.accounts import forms, mfa
from apps.accounts.api_keys import api_key_create, api_key_list, api_key_revoke
from apps.accounts.models import Theme, User
from apps.accounts.selectors import signin_lockout_seconds
from apps.accounts.services import (
    LOCKED_OUT_MESSAGE,
    email_verification_send,
    signin_identifier,
    user_signup,
    user_tokens_revoke,
    user_update_profile,
    user_verify_email,
)
from apps.core.api import error_body
from apps.core.errors import DomainError, NotFound
from apps.core.services import client_ip
from apps.core.throttling import rate_limit


@rate_limit("signup")
def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = forms.SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                display_name=form.cleaned_data["display_name"],
                ip=client_ip(request),
            )
        except DomainError as error:
            for field, field_messages in error.fields.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            return render(
                request, "accounts/check_inbox.html", {"email": form.cleaned_data["email"]}
            )
    return render(request, "accounts/signup.html", {"form": form})


def verify(request, token: str):
    try:
        user_verify_email(token=token)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Your e-mail address is verified. Welcome to volumebot.")
    if request.user.is_authenticated:
        return redirect("dashboard")
    return redirect("accounts:signin")


@require_POST
def resend_verification(request):
    form = forms.ResendVerificationForm(request.POST)
    if form.is_valid():
        user = User.objects.filter(
            email__iexact=form.cleaned_data["email"], email_verified_at__isnull=True
        ).first()
        if user is not None:
            email_verification_send(user=user)
    # The same answer whether or not the address has an account: no account enumeration.
    messages.info(request, "If that address has an unverified account, a new link is on its way.")
    return redirect("accounts:signin")


@method_decorator(rate_limit("signin"), name="dispatch")
class SignInView(auth_views.LoginView):
    form_class = forms.SignInForm
    template_name = "accounts/signin.html"
    redirect_authenticated_user = True


def locked_out(request, response=None, credentials=None):
    """django-axes calls this once an identifier has too many failed sign-ins."""
    message = LOCKED_OUT_MESSAGE
    if request.path.startswith("/v1/"):
        response = JsonResponse(error_body("locked_out", message), status=429)
    else:
        response = render(
            request,
            "accounts/signin.html",
            {"form": forms.SignInForm(request), "locked_out_message": message},
            status=429,
        )
    wait = signin_lockout_seconds(request=request, username=signin_identifier(request, credentials))
    response.headers["Retry-After"] = str(wait)
    return response


@login_required
@require_POST
def signout_everywhere(request):
    user_tokens_revoke(
        user_id=request.user.pk, actor=request.user, reason="signout_everywhere",
        ip=client_ip(request),
    )  # fmt: skip
    logout(request)
    messages.success(request, "You are signed out everywhere, and your API tokens are revoked.")
    return redirect("accounts:signin")


@login_required
def api_keys(request):
    """Settings → API keys: the user's keys, and a form whose answer shows a new key once."""
    form = forms.ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            _, created = api_key_create(
                owner=request.user, ip=client_ip(request), **form.cleaned_data
            )
        except DomainError as error:
            for field, field_messages in error.fields.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            form = forms.ApiKeyForm()
    context = {"form": form, "keys": api_key_list(owner=request.user), "created": created}
    response = render(
        request, "accounts/api_keys.html", context, status=400 if form.errors else 200
    )
    if created:
        response["Cache-Control"] = "no-store"  # the key must not linger in a cache
    return response


@login_required
@require_POST
def api_key_revoke_page(request, key_id: int):
    try:
        key = api_key_revoke(owner=request.user, key_id=key_id, ip=client_ip(request))
    except NotFound as error:
        raise Http404(error.message) from error
    messages.success(request, f"The key {key.name} is revoked.")
    return redirect("accounts:api_keys")


@login_required
def profile(request):
    user = request.user
    form = forms.ProfileForm(
        request.POST or None, initial={"display_name": user.display_name, "theme": user.theme}
    )
    if request.method == "POST" and form.is_valid():
        try:
            user_update_profile(
                user=user,
                display_name=form.cleaned_data["display_name"],
                theme=form.cleaned_data["theme"] or "",
            )
        except DomainError as error:
            for field, field_messages in error.fields.items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@require_POST
def set_theme(request):
    """The light/dark toggle: remembered on the account when signed in, in a cookie otherwise."""
    theme = request.POST.get("theme", "")
    if theme not in Theme.values:
        return HttpResponse("Unknown theme.", status=400)
    if request.user.is_authenticated:
        user_update_profile(user=request.user, display_name=request.user.display_name, theme=theme)
    response = HttpResponse(status=204)
    response.set_cookie("theme", theme, max_age=365 * 24 * 3600, samesite="Lax")
    return response


password_reset = rate_limit("password_reset")(
    auth_views.PasswordResetView.as_view(
        form_class=forms.ResetForm,
        template_name="accounts/password_reset.html",
        email_template_name="accounts/email/password_reset.txt",
        html_email_template_name="accounts/email/password_reset.html",
        subject_template_name="accounts/email/password_reset_subject.txt",
        success_url=reverse_lazy("accounts:password_reset_done"),
    )
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="accounts/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="accounts/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="accounts/password_reset_complete.html"
)
password_change = auth_views.PasswordChangeView.as_view(
    template_name="accounts/password_change.html", success_url=reverse_lazy("accounts:profile")
)


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
@sensitive_post_parameters("otp_code")
@rate_limit("mfa")
def two_factor(request):
    """Settings → Two-factor authentication: start the set-up (a QR code to scan), confirm it
    with a code (then the recovery codes are shown once), or turn it off."""
    user = request.user
    form = forms.OtpCodeForm(request.POST or None)
    context = {"enabled": mfa.mfa_enabled(user=user), "form": form}
    status = 200
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "start":
        device = mfa.mfa_enrolment_start(user=user) if not context["enabled"] else None
        if device is not None:
            context["device"] = device
            context["form"] = forms.OtpCodeForm()
    elif request.method == "POST" and form.is_valid():
        try:
            if action == "confirm":
                codes = mfa.mfa_enrolment_confirm(
                    user=user, code=form.cleaned_data["otp_code"], ip=client_ip(request)
                )
            elif action == "disable":
                mfa.mfa_disable(
                    user=user, code=form.cleaned_data["otp_code"], ip=client_ip(request)
                )
            else:
                return HttpResponse("Unknown action.", status=400)
        except DomainError as error:
            for message in error.fields.get("otp_code", [error.message]):
                form.add_error("otp_code", message)
            status = error.status_code
            if action == "confirm":
                context["device"] = user.totpdevice_set.filter(confirmed=False).first()
        else:
            if action == "confirm":
                # The code just typed proves the second factor for this session too.
                otp_login(request, user.totpdevice_set.get(confirmed=True))
                context.update(enabled=True, recovery_codes=codes, form=forms.OtpCodeForm())
            else:
                messages.success(request, "Two-factor authentication is off.")
                return redirect("accounts:two_factor")
    elif request.method == "POST":
        status = 400
    device = context.get("device")
    if device is not None:
        # segno draws paths only (the e-mail in the URL never becomes markup): safe to inline.
        qr = segno.make(device.config_url, error="m")
        context["qr_svg"] = qr.svg_inline(scale=5, dark="#000", light="#fff")
        # The same key in text, for an app that cannot scan (config_url's secret parameter).
        context["secret"] = base64.b32encode(device.bin_key).decode()
    context["recovery_left"] = mfa.mfa_recovery_codes_left(user=user)
    response = render(request, "accounts/two_factor.html", context, status=status)
    response["Cache-Control"] = "no-store"  # secrets and recovery codes must not be cached
    return response


@login_required
@sensitive_post_parameters("otp_code")
@rate_limit("mfa")
def two_factor_verify(request):
    """Prove the second factor for this session (staff need it for the admin)."""
    user = request.user
    if not mfa.mfa_enabled(user=user):
        messages.info(request, "Turn on two-factor authentication first.")
        return redirect("accounts:two_factor")
    form = forms.OtpCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        device = mfa.mfa_verify(user=user, code=form.cleaned_data["otp_code"])
        if device is not None:
            otp_login(request, device)
            return redirect(_safe_next(request, reverse("dashboard")))
        form.add_error("otp_code", "That code is not valid (or was used already).")
        status = 400
    elif request.method == "POST":
        status = 400
    context = {"form": form, "next": _safe_next(request, "")}
    return render(request, "accounts/two_factor_verify.html", context, status=status)
