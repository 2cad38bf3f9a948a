from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from apps.accounts.models import ApiKeyScope, Theme
from apps.accounts.services import password_reset_link


class SignUpForm(forms.Form):
    email = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    display_name = forms.CharField(label="Name (optional)", max_length=80, required=False)
    password = forms.CharField(
        label="Password",
        min_length=10,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common or all-numeric password.",
    )
    password_again = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match an account.",
        "unverified": "Verify your e-mail address first: open the link we sent to %(email)s, "
        "or ask for a new one below.",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.email_is_verified:
            raise forms.ValidationError(
                self.error_messages["unverified"], code="unverified", params={"email": user.email}
            )


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(label="E-mail")


class ProfileForm(forms.Form):
    display_name = forms.CharField(label="Name", max_length=80, required=False)
    theme = forms.ChoiceField(label="Theme", choices=Theme.choices, required=False)


class ResetForm(PasswordResetForm):
    """Django's reset form, with the link built from SITE_URL like every e-mailed link (Django
    builds it from the request's Host header, which the client chooses)."""

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        context["link"] = password_reset_link(uidb64=context["uid"], token=context["token"])
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80)
    scope = forms.ChoiceField(label="Scope", choices=ApiKeyScope.choices)
    expires_in_days = forms.IntegerField(label="Expires after (days)", min_value=1, initial=90)


class OtpCodeForm(forms.Form):
    otp_code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
    )
