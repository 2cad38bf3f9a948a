"""Input and output shapes of the campaigns API. The params schema itself lives in
`apps.campaigns.params` (one schema for API, pages and services); here it is only referenced."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.campaigns.models import Campaign, CampaignRun, CampaignStatus
from apps.campaigns.params import CampaignParamsSerializer
from apps.campaigns.selectors import campaign_warnings
from apps.core.api import PageQuerySerializer
from apps.execution.models import Execution


@extend_schema_field(CampaignParamsSerializer)
class ParamsInputField(serializers.JSONField):
    """The params object, passed as sent to the service, which validates it with the params
    schema (so the API, the pages and the services report the same messages)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Send the parameters as a JSON object.")
        return data


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    token_id = serializers.IntegerField()
    pool_id = serializers.IntegerField(help_text="One of your selected pools of the token.")
    funding_wallet_id = serializers.IntegerField(help_text="One of your custodial wallets.")
    start_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Start later (beat starts it); empty: on start."
    )
    end_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Window end (or give params.duration_seconds)."
    )
    params = ParamsInputField()


class CampaignUpdateSerializer(CampaignCreateSerializer):
    """Every field optional; `params` holds only the parameters to change."""

    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=280, required=False, default="", allow_blank=True)


class EstimateRequestSerializer(serializers.Serializer):
    params = ParamsInputField(
        required=False, help_text="Changes to estimate without saving them (merged like PATCH)."
    )


class WarningSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class RunSerializer(serializers.ModelSerializer):
    spent_lamports = serializers.IntegerField(read_only=True)
    success_rate_bps = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = CampaignRun
        fields = [
            "id", "status", "status_reason", "seed", "started_at", "ended_at", "ends_at",
            "volume_lamports", "trades_total", "trades_succeeded", "trades_failed",
            "success_rate_bps", "fees_lamports", "tips_lamports", "price_impact_lamports",
            "spent_lamports", "funded_lamports", "gathered_lamports",
        ]  # fmt: skip
        read_only_fields = fields


# One instance for every row's run: its fields are built once, not once per campaign listed.
RUN_SHAPE = RunSerializer()


class CampaignSerializer(serializers.ModelSerializer):
    token = serializers.SerializerMethodField()
    pool = serializers.SerializerMethodField()
    funding_wallet = serializers.SerializerMethodField()
    # Nested fields, not methods building a serializer per row: a list builds each field set
    # once (building them is most of a campaign list's time otherwise).
    params = CampaignParamsSerializer(read_only=True)
    warnings = serializers.SerializerMethodField()
    run = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "status", "status_reason", "network", "token", "pool",
            "funding_wallet", "start_at", "end_at", "params", "warnings", "run",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(
        {"type": "object", "properties": {"id": {"type": "integer"}, "mint": {"type": "string"},
                                          "symbol": {"type": "string"}}}
    )  # fmt: skip
    def get_token(self, campaign):
        token = campaign.token
        return {"id": token.pk, "mint": token.mint, "symbol": token.symbol}

    @extend_schema_field(
        {"type": "object", "properties": {"id": {"type": "integer"}, "dex": {"type": "string"},
                                          "address": {"type": "string"}}}
    )  # fmt: skip
    def get_pool(self, campaign):
        return {"id": campaign.pool_id, "dex": campaign.pool.dex, "address": campaign.pool.address}

    @extend_schema_field(
        {"type": "object", "properties": {"id": {"type": "integer"},
                                          "address": {"type": "string"},
                                          "label": {"type": "string"}}}
    )  # fmt: skip
    def get_funding_wallet(self, campaign):
        wallet = campaign.funding_wallet
        return {"id": wallet.pk, "address": wallet.address, "label": wallet.label}

    @extend_schema_field(WarningSerializer(many=True))
    def get_warnings(self, campaign):
        return WarningSerializer(campaign_warnings(campaign=campaign), many=True).data

    @extend_schema_field(RunSerializer(allow_null=True))
    def get_run(self, campaign):
        # From the runs the list prefetched (campaign.current_run would query per row).
        runs = sorted(campaign.runs.all(), key=lambda run: (run.started_at, run.pk))
        return RUN_SHAPE.to_representation(runs[-1]) if runs else None


class CampaignListQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)


class StatusSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    status_reason = serializers.CharField()
    target_volume_lamports = serializers.IntegerField(allow_null=True)
    budget_cap_lamports = serializers.IntegerField(allow_null=True)
    run = serializers.DictField(
        allow_null=True,
        help_text="The latest run's counters (lamports), volume_progress_bps, budget_used_bps.",
    )
    jobs = serializers.DictField(child=serializers.IntegerField(), help_text="Jobs by status.")


class EstimateSerializer(serializers.Serializer):
    mean_trade_lamports = serializers.IntegerField()
    trades = serializers.IntegerField(allow_null=True)
    volume_lamports = serializers.IntegerField(allow_null=True)
    fee_per_trade_lamports = serializers.IntegerField()
    tip_per_trade_lamports = serializers.IntegerField()
    round_trip_cost_lamports = serializers.IntegerField(
        help_text="Venue fees + price impact of one buy of the mean size sold straight back."
    )
    network_fees_lamports = serializers.IntegerField()
    priority_fees_lamports = serializers.IntegerField()
    tips_lamports = serializers.IntegerField()
    price_impact_lamports = serializers.IntegerField()
    setup_fees_lamports = serializers.IntegerField(help_text="Distribution and gather fees.")
    total_cost_lamports = serializers.IntegerField()
    maker_funding_lamports = serializers.IntegerField()
    sol_needed_upfront_lamports = serializers.IntegerField()
    trades_within_budget = serializers.IntegerField(allow_null=True)
    warnings = WarningSerializer(many=True)
    per_sol_volume_lamports = serializers.DictField(
        child=serializers.IntegerField(), allow_null=True,
        help_text="The cost of 1 SOL of volume by part (network_fees, priority_fees, tips, "
        "price_impact with the venue fees, setup_fees, rent_not_returned, total).",
    )  # fmt: skip
    cost_per_100k_usd_cents = serializers.IntegerField(
        allow_null=True, help_text="What $100,000 of volume costs, in US cents (any SOL price)."
    )
    buys = serializers.IntegerField(
        allow_null=True, help_text="Buys the run's plan makes (replayed with its seed)."
    )
    sells = serializers.IntegerField(
        allow_null=True, help_text="Sells: the plan's and the gather's of what makers hold."
    )
    price_move_ppm = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Expected price impact: how the plan moves the pool's price, in millionths "
        "of the price now: `mean_buy` (one buy of the mean size), `plan_peak` (the highest the "
        "plan's net buys take it), `plan_end` (before the gather sells what makers hold), "
        "`after_gather` (what the fees leave in the pool). Only `mean_buy` without a volume.",
    )
    pool = serializers.DictField(help_text="The reserves and fee the estimate used.")


class LogQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Execution.Status.choices, required=False)
    side = serializers.ChoiceField(choices=Execution.Side.choices, required=False)
    wallet = serializers.CharField(required=False, max_length=44, help_text="Wallet address.")
    since = serializers.DateTimeField(required=False, help_text="Created at or after.")
    until = serializers.DateTimeField(required=False, help_text="Created before.")


class LogPageQuerySerializer(LogQuerySerializer, PageQuerySerializer):
    pass


class ExecutionSerializer(serializers.ModelSerializer):
    wallet = serializers.CharField(source="wallet.address")
    job_id = serializers.IntegerField()
    job_type = serializers.CharField(source="job.type")
    token_in_raw = serializers.CharField(help_text="Raw units (integer as a string).")
    token_out_raw = serializers.CharField(help_text="Raw units (integer as a string).")

    class Meta:
        model = Execution
        fields = [
            "id", "created_at", "run_id", "job_id", "job_type", "attempt", "side", "status",
            "signature", "wallet", "slot", "fee_lamports", "tip_lamports", "sol_in_lamports",
            "sol_out_lamports", "token_in_raw", "token_out_raw", "latency_ms", "error",
        ]  # fmt: skip
        read_only_fields = fields


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")
