from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from apps.accounts import forms
from apps.accounts.models import Theme, User
from apps.accounts.services import (
    email_verification_send,
    user_signup,
    user_update_profile,
    user_verify_email,
)
from apps.core.api import error_body
from apps.core.errors import DomainError
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
    message = "Too many failed sign-ins. Try again in a few minutes, or reset your password."
    if request.path.startswith("/v1/"):
        return JsonResponse(error_body("locked_out", message), status=429)
    return render(
        request,
        "accounts/signin.html",
        {"form": forms.SignInForm(request), "locked_out_message": message},
        status=429,
    )


@login_required
def profile(request):
    user = request.user
    form = forms.ProfileForm(
        request.POST or None, initial={"display_name": user.display_name, "theme": user.theme}
    )
    if request.method == "POST" and form.is_valid():
        user_update_profile(
            user=user,
            display_name=form.cleaned_data["display_name"],
            theme=form.cleaned_data["theme"] or "",
        )
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
