from django import forms

from apps.wallets.domain import ACCEPTED_IMPORT_FORMATS

LABEL_HELP = "Optional: a name you will recognise, e.g. “Funding”."


class ImportForm(forms.Form):
    # A password input is never re-rendered with its value, so a secret pasted here does not
    # come back in the HTML of an error or preview page.
    secret_key = forms.CharField(
        label="Secret key",
        max_length=1024,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        help_text=f"Accepted: {ACCEPTED_IMPORT_FORMATS}.",
    )
    label = forms.CharField(label="Label", max_length=80, required=False, help_text=LABEL_HELP)


class GenerateForm(forms.Form):
    label = forms.CharField(label="Label", max_length=80, required=False, help_text=LABEL_HELP)


class WatchForm(forms.Form):
    address = forms.CharField(
        label="Address",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="A Solana address (base58). You can prove you own it afterwards.",
    )
    label = forms.CharField(label="Label", max_length=80, required=False, help_text=LABEL_HELP)


class WalletSettingsForm(forms.Form):
    label = forms.CharField(label="Label", max_length=80, required=False)
    active = forms.BooleanField(
        label="Active", required=False, help_text="Inactive wallets cannot be picked for campaigns."
    )


class VerifyForm(forms.Form):
    signature = forms.CharField(
        label="Signature",
        max_length=128,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The base58 signature your wallet produced for the message above.",
    )


class ExportForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_code = forms.CharField(
        label="Two-factor code",
        required=False,  # the service says what is missing: a code, or 2FA itself
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="From your authenticator app, or one of your recovery codes.",
    )
