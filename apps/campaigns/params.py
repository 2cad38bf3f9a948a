"""The one schema of campaign parameters, used by the API, the pages and the services.

Input ("API shape"): SOL amounts are decimal strings such as "0.05" (at most 9 decimals; JSON
integers are accepted too), durations are seconds with at most 3 decimals, Jito tips are integer
lamports and priority fees integer micro-lamports per compute unit.

Stored ("canonical", `Campaign.params`): integers only — `*_lamports` and `*_ms` — plus
`version`. `params_from_input` turns the first into the second, `params_to_input` goes back
(what the API returns, so a client can PATCH what it read).

Platform limits that depend on settings or the user (max slippage, trade size and maker bounds,
daily cap, mint lists, mainnet) are guardrails in `services`, not here: this schema holds what is
always true of a valid campaign.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import MAKERS_CEILING
from apps.chain.jito import JITO_REGIONS
from apps.core.amounts import LAMPORTS_PER_SOL
from apps.core.errors import ValidationFailed

PARAMS_VERSION = 1
MAX_SEED = 2**63 - 1
MAX_DURATION_SECONDS = 30 * 24 * 3600


class Mode:
    LIVE, DRY_RUN, SELL_ONLY = "live", "dry_run", "sell_only"
    CHOICES = [
        (LIVE, "Live: send every trade"),
        (DRY_RUN, "Dry run: build, sign and simulate every trade, send nothing"),
        (SELL_ONLY, "Sell only: sell what the makers hold, then gather"),
    ]


DISTRIBUTIONS = [("uniform", "Uniform"), ("lognormal", "Log-normal")]
CADENCES = [
    ("delay", "A random delay between trades"),
    ("rate", "A trades-per-minute target"),
]
PATTERNS = [("steady", "Steady"), ("burst", "Burst"), ("wave", "Wave"), ("organic", "Organic")]
EXECUTION_MODES = [("legacy", "Legacy (RPC sendTransaction)"), ("jito", "Jito bundles")]
FEE_POLICIES = [
    ("fixed", "Fixed micro-lamports per CU"),
    ("dynamic", "Percentile of recent fees, capped"),
]


@extend_schema_field(
    {
        "type": "string",
        "description": "Decimal string (SOL: at most 9 decimals; seconds: at most 3).",
        "example": "0.05",
    }
)
class ScaledIntegerField(serializers.Field):
    """A decimal number in the API, an exact integer of `10**-decimals` units when stored:
    SOL ↔ lamports (9 decimals), seconds ↔ milliseconds (3 decimals). Never a float."""

    def __init__(self, *, decimals: int, unit: str, min_units: int = 0, **kwargs):
        self.decimals, self.unit, self.min_units = decimals, unit, min_units
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail_with(f'Enter {self.unit} as a decimal string, such as "0.05".')
        # A JSON float becomes its shortest repr ("0.05"), never the binary expansion.
        text = repr(data) if isinstance(data, float) else str(data).strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail_with(f'Enter {self.unit} as a decimal string, such as "0.05".')
        if not value.is_finite():
            self.fail_with(f"Enter a finite amount of {self.unit}.")
        units = value.scaleb(self.decimals)
        if units != units.to_integral_value():
            self.fail_with(f"Use at most {self.decimals} decimals for {self.unit}.")
        units = int(units)
        if units < self.min_units:
            minimum = _format_scaled(self.min_units, self.decimals)
            self.fail_with(
                f"Must be more than 0 {self.unit}."
                if self.min_units == 1
                else f"Must be at least {minimum} {self.unit}."
            )
        if units > 10**18:
            self.fail_with(f"That is too many {self.unit}.")
        return units

    def to_representation(self, value: int) -> str:
        return _format_scaled(int(value), self.decimals)

    def fail_with(self, message: str) -> NoReturn:
        raise serializers.ValidationError(message)


def _format_scaled(units: int, decimals: int) -> str:
    whole, fraction = divmod(units, 10**decimals)
    text = f"{whole}.{fraction:0{decimals}d}".rstrip("0").rstrip(".")
    return text


def sol_field(**kwargs) -> ScaledIntegerField:
    return ScaledIntegerField(decimals=9, unit="SOL", **kwargs)


def seconds_field(**kwargs) -> ScaledIntegerField:
    return ScaledIntegerField(decimals=3, unit="seconds", **kwargs)


def _bounds(low: int, high: int, what: str) -> dict:
    message = f"Between {low} and {high} {what}."
    return {"min_value": message, "max_value": message, "invalid": "Enter a whole number."}


class CampaignParamsSerializer(serializers.Serializer):
    """Campaign parameters. Field names are the API's; `source` is the stored key."""

    mode = serializers.ChoiceField(choices=Mode.CHOICES, default=Mode.LIVE)
    maker_count = serializers.IntegerField(
        min_value=1, max_value=MAKERS_CEILING,
        error_messages=_bounds(1, MAKERS_CEILING, "maker wallets"),
        help_text="Maker wallets generated for each run (at most the account's limit: "
        "`CAMPAIGN_MAX_MAKERS`, or what an administrator set for the account).",
    )  # fmt: skip
    maker_funding_sol = sol_field(
        source="maker_funding_lamports", min_units=1,
        help_text="SOL sent to each maker wallet at start (SOL, decimal string).",
    )  # fmt: skip
    trade_size_min_sol = sol_field(
        source="trade_size_min_lamports", min_units=1, help_text="Smallest trade (SOL)."
    )
    trade_size_max_sol = sol_field(
        source="trade_size_max_lamports", min_units=1, help_text="Largest trade (SOL)."
    )
    trade_size_distribution = serializers.ChoiceField(
        choices=DISTRIBUTIONS, default="uniform",
        help_text="uniform in [min, max]; lognormal: ln(size) ~ N(mid, range/4) clipped to it.",
    )  # fmt: skip
    cadence = serializers.ChoiceField(choices=CADENCES, default="delay")
    delay_min_seconds = seconds_field(source="delay_min_ms", required=False, allow_null=True)
    delay_max_seconds = seconds_field(source="delay_max_ms", required=False, allow_null=True)
    trades_per_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=600,
        error_messages=_bounds(1, 600, "trades per minute"),
        help_text="Rate cadence: mean trades per minute (Poisson gaps).",
    )  # fmt: skip
    pattern = serializers.ChoiceField(choices=PATTERNS, default="steady")
    buy_percent = serializers.IntegerField(
        default=50, min_value=0, max_value=100, error_messages=_bounds(0, 100, "percent"),
        help_text="Share of trades that are buys (the rest are sells).",
    )  # fmt: skip
    hold_min_seconds = seconds_field(source="hold_min_ms", default=0)
    hold_max_seconds = seconds_field(source="hold_max_ms", default=0)
    slippage_bps = serializers.IntegerField(
        default=100, min_value=1, max_value=10_000,
        error_messages=_bounds(1, 10_000, "basis points"),
        help_text="Slippage tolerance in basis points (100 = 1 %).",
    )  # fmt: skip
    execution_mode = serializers.ChoiceField(choices=EXECUTION_MODES, default="legacy")
    priority_fee_policy = serializers.ChoiceField(choices=FEE_POLICIES, default="fixed")
    priority_fee_micro_lamports = serializers.IntegerField(
        default=0, min_value=0, max_value=100_000_000,
        error_messages=_bounds(0, 100_000_000, "micro-lamports per compute unit"),
        help_text="Fixed policy: compute-unit price (micro-lamports).",
    )  # fmt: skip
    priority_fee_percentile = serializers.IntegerField(
        default=75, min_value=1, max_value=100, error_messages=_bounds(1, 100, "(percentile)"),
    )  # fmt: skip
    priority_fee_cap_micro_lamports = serializers.IntegerField(
        default=1_000_000, min_value=1, max_value=100_000_000,
        error_messages=_bounds(1, 100_000_000, "micro-lamports per compute unit"),
        help_text="Dynamic policy: never pay more than this per compute unit.",
    )  # fmt: skip
    jito_tip_min_lamports = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=LAMPORTS_PER_SOL,
        error_messages=_bounds(1, LAMPORTS_PER_SOL, "lamports"),
    )  # fmt: skip
    jito_tip_max_lamports = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=LAMPORTS_PER_SOL,
        error_messages=_bounds(1, LAMPORTS_PER_SOL, "lamports"),
    )  # fmt: skip
    jito_region = serializers.ChoiceField(
        choices=sorted(JITO_REGIONS), required=False, allow_null=True
    )
    target_volume_sol = sol_field(
        source="target_volume_lamports", min_units=1, required=False, allow_null=True,
        help_text="Stop (and gather) once this much SOL was traded.",
    )  # fmt: skip
    budget_cap_sol = sol_field(
        source="budget_cap_lamports", min_units=1, required=False, allow_null=True,
        help_text="Stop once fees + tips + price impact reach this (SOL).",
    )  # fmt: skip
    daily_volume_cap_sol = sol_field(
        source="daily_volume_cap_lamports", min_units=1, required=False, allow_null=True,
        help_text="At most this much SOL traded per UTC day.",
    )  # fmt: skip
    duration_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=60, max_value=MAX_DURATION_SECONDS,
        error_messages=_bounds(60, MAX_DURATION_SECONDS, "seconds"),
        help_text="Run for this long after the start (instead of an end time).",
    )  # fmt: skip
    concurrency_cap = serializers.IntegerField(
        default=1, min_value=1, max_value=1000, error_messages=_bounds(1, 1000, "trades"),
        help_text="Trades in flight at once (at most one per maker wallet).",
    )  # fmt: skip
    seed = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_SEED,
        error_messages=_bounds(0, MAX_SEED, "(seed)"),
        help_text="Planner seed; empty picks one at random. The same seed replays a run.",
    )  # fmt: skip
    follow_migration = serializers.BooleanField(
        default=True,
        help_text="When the token's pump.fun curve completes mid-run, keep trading on its "
        "PumpSwap pool (otherwise the campaign pauses with the reason).",
    )
    price_band_percent = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1000,
        error_messages=_bounds(1, 1000, "%"),
        help_text="Pause when the pool's price moves more than this % from its price when the "
        "run started.",
    )  # fmt: skip
    price_floor_sol = sol_field(
        source="price_floor_lamports", min_units=1, required=False, allow_null=True,
        help_text="Pause when one whole token is worth less than this (SOL).",
    )  # fmt: skip
    price_ceiling_sol = sol_field(
        source="price_ceiling_lamports", min_units=1, required=False, allow_null=True,
        help_text="Pause when one whole token is worth more than this (SOL).",
    )  # fmt: skip
    version = serializers.IntegerField(read_only=True)

    def validate(self, attrs: dict) -> dict:
        errors: dict[str, list[str]] = {}

        def error(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if attrs["trade_size_min_lamports"] > attrs["trade_size_max_lamports"]:
            error("trade_size_max_sol", "Must be at least the smallest trade size.")
        if attrs["maker_funding_lamports"] < attrs["trade_size_max_lamports"]:
            error(
                "maker_funding_sol",
                "Each maker wallet needs at least the largest trade size.",
            )
        if attrs["cadence"] == "delay":
            low, high = attrs.get("delay_min_ms"), attrs.get("delay_max_ms")
            if low is None:
                error("delay_min_seconds", "Required when the cadence is a delay range.")
            if high is None:
                error("delay_max_seconds", "Required when the cadence is a delay range.")
            if low is not None and high is not None and low > high:
                error("delay_max_seconds", "Must be at least the minimum delay.")
        elif attrs.get("trades_per_minute") is None:
            error("trades_per_minute", "Required when the cadence is a trades-per-minute target.")
        if attrs["hold_min_ms"] > attrs["hold_max_ms"]:
            error("hold_max_seconds", "Must be at least the minimum hold time.")
        if attrs["mode"] != Mode.SELL_ONLY and attrs["buy_percent"] == 0:
            error("buy_percent", "With no buys there is nothing to sell: use sell-only mode.")
        if attrs["concurrency_cap"] > attrs["maker_count"]:
            error(
                "concurrency_cap",
                "A maker wallet has at most one trade in flight, so this cannot exceed the "
                "maker count.",
            )
        if attrs["execution_mode"] == "jito":
            for field in ("jito_tip_min_lamports", "jito_tip_max_lamports", "jito_region"):
                if attrs.get(field) is None:
                    error(field, "Required in Jito mode.")
            low, high = attrs.get("jito_tip_min_lamports"), attrs.get("jito_tip_max_lamports")
            if low is not None and high is not None and low > high:
                error("jito_tip_max_lamports", "Must be at least the minimum tip.")
        floor, ceiling = attrs.get("price_floor_lamports"), attrs.get("price_ceiling_lamports")
        if floor is not None and ceiling is not None and floor >= ceiling:
            error("price_ceiling_sol", "Must be above the price floor.")
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


SOL_FIELDS = {
    name: field.source
    for name, field in CampaignParamsSerializer().fields.items()
    if isinstance(field, ScaledIntegerField)
}


def _flatten(detail, prefix: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for key, value in detail.items():
        name = "params" if key == "non_field_errors" else f"{prefix}{key}"
        items = value if isinstance(value, list) else [value]
        fields.setdefault(name, []).extend(str(item) for item in items)
    return fields


def validation_failed(fields: dict[str, list[str]]) -> ValidationFailed:
    """One ValidationFailed for field errors: the message is the error itself when there is
    one, else the list of fields (each field carries its own message)."""
    if len(fields) == 1:
        [messages] = fields.values()
        return ValidationFailed(" ".join(messages), fields=fields)
    return ValidationFailed(
        "Some fields are invalid: " + ", ".join(sorted(fields)) + ".", fields=fields
    )


def params_from_input(data: object) -> dict:
    """Validate API-shaped params; the canonical dict to store (with a seed and the version).
    Raises ValidationFailed with fields named `params.<field>`."""
    if not isinstance(data, dict):
        raise validation_failed({"params": ["Send the parameters as a JSON object."]})
    unknown = sorted(set(data) - set(CampaignParamsSerializer().fields) - {"version"})
    if unknown:
        raise validation_failed({f"params.{name}": ["Unknown parameter."] for name in unknown})
    serializer = CampaignParamsSerializer(data=data)
    if not serializer.is_valid():
        raise validation_failed(_flatten(serializer.errors, "params."))
    params = dict(serializer.validated_data)
    for field in serializer.fields.values():
        if not field.read_only:
            params.setdefault(field.source, None)  # one stored shape, every key present
    if params.get("seed") is None:
        params["seed"] = secrets.randbelow(MAX_SEED)
    params["version"] = PARAMS_VERSION
    return params


def params_to_input(params: dict) -> dict:
    """The API shape of stored params (what GET returns and PATCH accepts back)."""
    return dict(CampaignParamsSerializer(instance=params).data)
