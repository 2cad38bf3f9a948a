from django import forms

from apps.tokens.models import Network


class RegisterTokenForm(forms.Form):
    mint = forms.CharField(
        label="Mint address",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The token's mint (base58), not a wallet or a token account.",
    )
    network = forms.ChoiceField(label="Network", choices=Network.choices, initial=Network.LOCALNET)

    def clean_mint(self):
        return self.cleaned_data["mint"].strip()
