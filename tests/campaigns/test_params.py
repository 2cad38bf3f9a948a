"""The params schema: every rule's message, SOL ↔ lamports exactness, and that a rejected
campaign leaves nothing behind (no campaign, no audit row)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.campaigns.params import params_from_input, params_to_input
from apps.campaigns.services import campaign_create
from apps.core.errors import ValidationFailed
from apps.core.models import AuditEvent
from tests.support.campaigns import PARAMS

pytestmark = pytest.mark.django_db

INVALID_CHOICE = '"{}" is not a valid choice.'
MISSING = object()

ONE_PER_MAKER = (
    "A maker wallet has at most one trade in flight, so this cannot exceed the maker count."
)
NEVER_ENDS = (
    "Set a target volume, a budget cap, an end time or a duration: otherwise the campaign "
    "never ends on its own."
)
PER_CU = "Between 1 and 100000000 micro-lamports per compute unit."
AS_STRING = 'Enter SOL as a decimal string, such as "0.05".'
DELAY_REQUIRED = "Required when the cadence is a delay range."
JITO_TIPS = {
    "execution_mode": "jito", "jito_region": "ny",
    "jito_tip_min_lamports": 5000, "jito_tip_max_lamports": 1000,
}  # fmt: skip

CASES = [
    ({"maker_count": MISSING}, "maker_count", "This field is required."),
    ({"maker_count": 0}, "maker_count", "Between 1 and 10000 maker wallets."),
    ({"maker_count": "three"}, "maker_count", "Enter a whole number."),
    ({"maker_funding_sol": "0"}, "maker_funding_sol", "Must be more than 0 SOL."),
    (
        {"trade_size_min_sol": "0.0000000001"},
        "trade_size_min_sol",
        "Use at most 9 decimals for SOL.",
    ),
    ({"trade_size_min_sol": "abc"}, "trade_size_min_sol", AS_STRING),
    ({"trade_size_min_sol": [1]}, "trade_size_min_sol", AS_STRING),
    ({"trade_size_min_sol": "-1"}, "trade_size_min_sol", "Must be more than 0 SOL."),
    ({"trade_size_min_sol": "NaN"}, "trade_size_min_sol", "Enter a finite amount of SOL."),
    (
        {"trade_size_min_sol": "0.06"},
        "trade_size_max_sol",
        "Must be at least the smallest trade size.",
    ),
    (
        {"trade_size_max_sol": "0.6"},
        "maker_funding_sol",
        "Each maker wallet needs at least the largest trade size.",
    ),
    (
        {"trade_size_distribution": "normal"},
        "trade_size_distribution",
        INVALID_CHOICE.format("normal"),
    ),
    ({"cadence": "often"}, "cadence", INVALID_CHOICE.format("often")),
    ({"delay_min_seconds": None}, "delay_min_seconds", DELAY_REQUIRED),
    ({"delay_max_seconds": MISSING}, "delay_max_seconds", DELAY_REQUIRED),
    ({"delay_min_seconds": "5"}, "delay_max_seconds", "Must be at least the minimum delay."),
    ({"delay_min_seconds": "0.0001"}, "delay_min_seconds", "Use at most 3 decimals for seconds."),
    (
        {"cadence": "rate"},
        "trades_per_minute",
        "Required when the cadence is a trades-per-minute target.",
    ),
    (
        {"cadence": "rate", "trades_per_minute": 0},
        "trades_per_minute",
        "Between 1 and 600 trades per minute.",
    ),
    ({"pattern": "zigzag"}, "pattern", INVALID_CHOICE.format("zigzag")),
    ({"buy_percent": 101}, "buy_percent", "Between 0 and 100 percent."),
    (
        {"buy_percent": 0},
        "buy_percent",
        "With no buys there is nothing to sell: use sell-only mode.",
    ),
    ({"hold_min_seconds": "10"}, "hold_max_seconds", "Must be at least the minimum hold time."),
    ({"slippage_bps": 0}, "slippage_bps", "Between 1 and 10000 basis points."),
    ({"execution_mode": "fast"}, "execution_mode", INVALID_CHOICE.format("fast")),
    ({"priority_fee_policy": "auto"}, "priority_fee_policy", INVALID_CHOICE.format("auto")),
    ({"priority_fee_percentile": 0}, "priority_fee_percentile", "Between 1 and 100 (percentile)."),
    ({"priority_fee_cap_micro_lamports": 0}, "priority_fee_cap_micro_lamports", PER_CU),
    (JITO_TIPS, "jito_tip_max_lamports", "Must be at least the minimum tip."),
    ({"jito_region": "mars"}, "jito_region", INVALID_CHOICE.format("mars")),
    ({"jito_tip_min_lamports": 0}, "jito_tip_min_lamports", "Between 1 and 1000000000 lamports."),
    ({"concurrency_cap": 4}, "concurrency_cap", ONE_PER_MAKER),
    ({"duration_seconds": 30}, "duration_seconds", "Between 60 and 2592000 seconds."),
    ({"seed": -1}, "seed", "Between 0 and 9223372036854775807 (seed)."),
    ({"mode": "paper"}, "mode", INVALID_CHOICE.format("paper")),
    ({"slipage_bps": 50}, "slipage_bps", "Unknown parameter."),
    ({"target_volume_sol": None}, "target_volume_sol", NEVER_ENDS),
]


def with_patch(patch: dict) -> dict:
    params = {**PARAMS, **patch}
    return {key: value for key, value in params.items() if value is not MISSING}


@pytest.mark.parametrize(("patch", "field", "message"), CASES, ids=[c[1] for c in CASES])
def test_it_rejects_each_invalid_param_with_its_message(alice_setup, patch, field, message):
    with pytest.raises(ValidationFailed) as error:
        campaign_create(
            owner=alice_setup.user, name="Bad", params=with_patch(patch), **alice_setup.refs()
        )

    assert error.value.fields == {f"params.{field}": [message]}
    assert error.value.message == message
    assert not Campaign.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="campaign.").exists()


def test_it_lists_every_field_jito_mode_requires(alice_setup):
    with pytest.raises(ValidationFailed) as error:
        campaign_create(
            owner=alice_setup.user, name="Jito", params={**PARAMS, "execution_mode": "jito"},
            **alice_setup.refs(),
        )  # fmt: skip

    assert error.value.fields == {
        "params.jito_tip_min_lamports": ["Required in Jito mode."],
        "params.jito_tip_max_lamports": ["Required in Jito mode."],
        "params.jito_region": ["Required in Jito mode."],
    }
    assert error.value.message == (
        "Some fields are invalid: params.jito_region, params.jito_tip_max_lamports, "
        "params.jito_tip_min_lamports."
    )
    assert not Campaign.objects.exists()


def test_it_rejects_params_that_are_not_an_object(alice_setup):
    with pytest.raises(ValidationFailed) as error:
        campaign_create(owner=alice_setup.user, name="X", params=["a"], **alice_setup.refs())

    assert error.value.fields == {"params": ["Send the parameters as a JSON object."]}
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"end_at": -1}, "end_at", "Must be after the start time (and in the future)."),
        ({"start_at": 2, "end_at": 1}, "end_at",
         "Must be after the start time (and in the future)."),
        ({"end_at": 1, "params": {"duration_seconds": 3600}}, "params.duration_seconds",
         "Give either an end time or a duration, not both."),
    ],
)  # fmt: skip
def test_it_checks_the_schedule_window(alice_setup, changes, field, message):
    now = timezone.now()
    times = {
        key: now + timedelta(hours=changes[key]) for key in ("start_at", "end_at") if key in changes
    }

    with pytest.raises(ValidationFailed) as error:
        campaign_create(
            owner=alice_setup.user, name="X", params={**PARAMS, **changes.get("params", {})},
            **alice_setup.refs(), **times,
        )  # fmt: skip

    assert error.value.fields == {field: [message]}
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("sol", "lamports"),
    [
        ("0.05", 50_000_000),
        ("1", 1_000_000_000),
        ("0.000000001", 1),
        ("123.456789012", 123_456_789_012),
        (" 2.5 ", 2_500_000_000),
        (2, 2_000_000_000),
        (0.1, 100_000_000),  # a JSON float is read from its shortest repr, "0.1"
    ],
)
def test_it_converts_sol_to_exact_lamports(sol, lamports):
    params = params_from_input(
        {**PARAMS, "maker_funding_sol": "500", "trade_size_min_sol": sol, "trade_size_max_sol": sol}
    )

    assert params["trade_size_max_lamports"] == lamports
    assert isinstance(params["trade_size_max_lamports"], int)


def test_it_stores_integers_with_a_version_and_reads_back_the_api_shape():
    stored = params_from_input({**PARAMS, "delay_min_seconds": "1.25", "hold_max_seconds": 90})

    assert stored["version"] == 1
    assert stored["maker_funding_lamports"] == 500_000_000
    assert (stored["delay_min_ms"], stored["delay_max_ms"]) == (1250, 3000)
    assert (stored["hold_min_ms"], stored["hold_max_ms"]) == (0, 90_000)
    assert stored["target_volume_lamports"] == 10_000_000_000
    assert stored["budget_cap_lamports"] is None
    assert stored["seed"] == 7
    back = params_to_input(stored)
    assert back["maker_funding_sol"] == "0.5"
    assert back["delay_min_seconds"] == "1.25"
    assert back["target_volume_sol"] == "10"
    assert back["budget_cap_sol"] is None
    assert params_from_input(back) == stored  # what GET returns can be sent back unchanged


def test_it_picks_a_random_seed_when_none_is_given():
    params = {key: value for key, value in PARAMS.items() if key != "seed"}

    seeds = {params_from_input(params)["seed"] for _ in range(3)}

    assert len(seeds) == 3
    assert all(0 <= seed < 2**63 for seed in seeds)
