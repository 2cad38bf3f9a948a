"""The create wizard's form. It only collects what the user typed: the params schema
(`apps.campaigns.params`) and the services validate it, and their messages land on its fields."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from apps.campaigns.params import CADENCES, DISTRIBUTIONS, EXECUTION_MODES, PATTERNS, Mode

# Wizard field → the API's params key (the same name: the form speaks the API shape).
PARAMS_FIELDS = (
    "mode", "maker_count", "maker_funding_sol", "trade_size_min_sol", "trade_size_max_sol",
    "trade_size_distribution", "cadence", "delay_min_seconds", "delay_max_seconds",
    "trades_per_minute", "pattern", "buy_percent", "slippage_bps", "execution_mode",
    "priority_fee_micro_lamports", "jito_tip_min_lamports", "jito_tip_max_lamports",
    "jito_region", "target_volume_sol", "budget_cap_sol", "daily_volume_cap_sol",
    "duration_seconds", "concurrency_cap", "seed", "follow_migration", "price_band_percent",
    "price_floor_sol", "price_ceiling_sol",
)  # fmt: skip
# Service error keys → form fields.
REF_FIELDS = {"token_id": "token", "pool_id": "pool", "funding_wallet_id": "funding_wallet"}


def _text(label: str, help_text: str = "", *, initial: str = "", mode: str = "decimal"):
    return forms.CharField(
        label=label, required=False, initial=initial, help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": mode, "autocomplete": "off"}),
    )  # fmt: skip


class CampaignWizardForm(forms.Form):
    name = forms.CharField(label="Campaign name", max_length=80, required=False)
    token = forms.ChoiceField(label="Token", required=False)
    pool = forms.ChoiceField(label="Pool", required=False)
    funding_wallet = forms.ChoiceField(label="Funding wallet", required=False)

    mode = forms.ChoiceField(label="Mode", choices=Mode.CHOICES, initial=Mode.LIVE)
    maker_count = _text("Maker wallets", "Generated for each run.", initial="3", mode="numeric")
    maker_funding_sol = _text("SOL per maker wallet", "Sent to each maker at start.", initial="0.5")
    trade_size_min_sol = _text("Smallest trade (SOL)", initial="0.01")
    trade_size_max_sol = _text("Largest trade (SOL)", initial="0.05")
    trade_size_distribution = forms.ChoiceField(
        label="Trade size distribution", choices=DISTRIBUTIONS, initial="uniform"
    )
    cadence = forms.ChoiceField(label="Cadence", choices=CADENCES, initial="delay")
    delay_min_seconds = _text("Shortest delay (seconds)", initial="5")
    delay_max_seconds = _text("Longest delay (seconds)", initial="20")
    trades_per_minute = _text("Trades per minute", "For the rate cadence.", mode="numeric")
    pattern = forms.ChoiceField(label="Pattern", choices=PATTERNS, initial="steady")
    buy_percent = _text("Buys (%)", "Share of trades that buy.", initial="50", mode="numeric")
    slippage_bps = _text("Slippage (bps)", "100 bps = 1 %.", initial="100", mode="numeric")
    target_volume_sol = _text("Target volume (SOL)", "Stop once this much SOL was traded.")
    budget_cap_sol = _text("Budget cap (SOL)", "Stop once fees, tips and price impact reach it.")
    daily_volume_cap_sol = _text("Daily volume cap (SOL)")
    duration_seconds = _text("Duration (seconds)", "Stop after this long.", mode="numeric")
    concurrency_cap = _text(
        "Trades in flight", "At most one per maker.", initial="1", mode="numeric"
    )
    execution_mode = forms.ChoiceField(label="Send via", choices=EXECUTION_MODES, initial="legacy")
    priority_fee_micro_lamports = _text(
        "Priority fee (micro-lamports per CU)", initial="0", mode="numeric"
    )
    jito_tip_min_lamports = _text("Smallest Jito tip (lamports)", mode="numeric")
    jito_tip_max_lamports = _text("Largest Jito tip (lamports)", mode="numeric")
    jito_region = _text("Jito region", mode="text")
    follow_migration = forms.ChoiceField(
        label="When the pump.fun curve completes",
        choices=(("true", "Trade on its PumpSwap pool"), ("false", "Pause the campaign")),
        initial="true",
        help_text="A coin whose bonding curve completes moves to PumpSwap.",
    )
    price_band_percent = _text(
        "Price band (%)", "Pause when the price moves more than this from the start.",
        mode="numeric",
    )  # fmt: skip
    price_floor_sol = _text("Price floor (SOL per token)", "Pause below this price.")
    price_ceiling_sol = _text("Price ceiling (SOL per token)", "Pause above this price.")
    confirm_start = forms.BooleanField(label="Start now", required=False)
    # Not a parameter: only prices the estimate's cost per $100K of volume in SOL.
    sol_price_usd = forms.DecimalField(
        label="SOL price (USD)", required=False, min_value=Decimal("0.01"),
        max_value=Decimal("1000000"), max_digits=12, decimal_places=2,
        help_text="Prices the cost of $100K of volume in SOL.",
    )  # fmt: skip
    seed = _text("Seed", "Empty: a random one. The same seed replays a run.", mode="numeric")

    def __init__(self, *args, tokens=(), pools=(), wallets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["token"].choices = [("", "Choose a token"), *tokens]
        self.fields["pool"].choices = [("", "Choose a pool"), *pools]
        self.fields["funding_wallet"].choices = [("", "Choose a funding wallet"), *wallets]

    def params_input(self) -> dict:
        """The params in the API shape: what was typed, blanks left out (defaults apply)."""
        typed = {name: (self.data.get(name) or "").strip() for name in PARAMS_FIELDS}
        return {name: value for name, value in typed.items() if value}

    def add_domain_errors(self, fields: dict[str, list[str]] | None, message: str) -> None:
        """A service's ValidationFailed on the fields it names (`params.x`, `token_id`, ...)."""
        for key, messages in (fields or {None: [message]}).items():
            name = REF_FIELDS.get(key, key.removeprefix("params.") if key else None)
            for text in messages:
                self.add_error(name if name in self.fields else None, text)
