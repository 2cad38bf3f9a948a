"""The campaigns API: one view per operation; each parses, calls one service or selector and
renders. Another user's campaign is a 404, exactly like a missing one."""

import json
from dataclasses import asdict

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.tickets import ws_ticket_issue
from apps.campaigns import selectors, services, transitions
from apps.campaigns.api import serializers as s
from apps.campaigns.status_cache import status_cached
from apps.core.api import page_serializer, paginated
from apps.core.csv_export import csv_lines
from apps.core.services import client_ip

TAGS = ["campaigns"]
ERROR = OpenApiResponse(description='`{"error": {"code", "message", "fields"}}`')
NOT_FOUND = OpenApiResponse(description="No such campaign (or not yours).")
CONFLICT = OpenApiResponse(
    description="The campaign's state does not allow this (message says why); nothing changed."
)

PARAMS_EXAMPLE = {
    "mode": "live",
    "maker_count": 5,
    "maker_funding_sol": "0.5",
    "trade_size_min_sol": "0.01",
    "trade_size_max_sol": "0.05",
    "trade_size_distribution": "lognormal",
    "cadence": "delay",
    "delay_min_seconds": "2",
    "delay_max_seconds": "15.5",
    "pattern": "organic",
    "buy_percent": 55,
    "hold_min_seconds": "30",
    "hold_max_seconds": "300",
    "slippage_bps": 150,
    "execution_mode": "jito",
    "priority_fee_policy": "dynamic",
    "priority_fee_percentile": 75,
    "priority_fee_cap_micro_lamports": 200000,
    "jito_tip_min_lamports": 10000,
    "jito_tip_max_lamports": 50000,
    "jito_region": "frankfurt",
    "target_volume_sol": "25",
    "budget_cap_sol": "0.5",
    "daily_volume_cap_sol": "100",
    "concurrency_cap": 3,
    "seed": 42,
}
CREATE_EXAMPLE = OpenApiExample(
    "Create a Jito campaign",
    request_only=True,
    value={
        "name": "Launch week",
        "token_id": 1,
        "pool_id": 1,
        "funding_wallet_id": 1,
        "start_at": None,
        "end_at": None,
        "params": PARAMS_EXAMPLE,
    },
)


def _campaign(request, campaign_id: int):
    return selectors.campaign_get(owner=request.user, campaign_id=campaign_id)


def _render(request, campaign_id: int, *, code: int = status.HTTP_200_OK) -> Response:
    campaign = _campaign(request, campaign_id)
    return Response(s.CampaignSerializer(campaign).data, status=code)


class CampaignListView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Your campaigns, newest first (cursor pagination)",
        operation_id="campaigns_list",
        parameters=[s.CampaignListQuerySerializer],
        responses={200: page_serializer(s.CampaignSerializer), 400: ERROR},
    )
    def get(self, request):
        query = s.CampaignListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        campaigns = selectors.campaign_list(
            owner=request.user, status=query.validated_data.get("status")
        )
        return paginated(
            request, campaigns.prefetch_related("runs"), s.CampaignSerializer,
            query=query.validated_data,
        )  # fmt: skip

    @extend_schema(
        tags=TAGS,
        summary="Create a draft campaign",
        description="SOL amounts are decimal strings (at most 9 decimals), stored as integer "
        "lamports. The response's `warnings` list guardrail warnings (e.g. high slippage).",
        request=s.CampaignCreateSerializer,
        responses={201: s.CampaignSerializer, 400: ERROR},
        examples=[CREATE_EXAMPLE],
    )
    def post(self, request):
        data = s.CampaignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_create(
            owner=request.user, ip=client_ip(request), **data.validated_data
        )
        return _render(request, campaign.pk, code=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    @extend_schema(
        tags=TAGS, summary="One campaign", responses={200: s.CampaignSerializer, 404: NOT_FOUND}
    )
    def get(self, request, campaign_id: int):
        return _render(request, campaign_id)

    @extend_schema(
        tags=TAGS,
        summary="Change a draft, scheduled or paused campaign",
        description="`params` holds only what changes; it is merged into the current params. "
        "While paused, token, pool, funding wallet, mode, maker count, maker funding and seed "
        "cannot change (the run's makers depend on them).",
        request=s.CampaignUpdateSerializer,
        responses={200: s.CampaignSerializer, 400: ERROR, 404: NOT_FOUND, 409: CONFLICT},
        examples=[
            OpenApiExample(
                "Lower the slippage",
                request_only=True,
                value={"params": {"slippage_bps": 80}},
            )
        ],
    )
    def patch(self, request, campaign_id: int):
        data = s.CampaignUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.campaign_update(
            owner=request.user, campaign_id=campaign_id, changes=dict(data.validated_data),
            ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)

    @extend_schema(
        tags=TAGS,
        summary="Delete a campaign that is not running (with its runs and logs)",
        responses={204: None, 404: NOT_FOUND, 409: CONFLICT},
    )
    def delete(self, request, campaign_id: int):
        services.campaign_delete(owner=request.user, campaign_id=campaign_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignStartView(APIView):
    throttle_scope = "campaign_start"

    @extend_schema(
        tags=TAGS,
        summary="Start (or, with a future start_at, schedule) a campaign",
        description="Checks the guardrails, the operator's pause-all switch, today's volume cap "
        "and that the funding wallet covers every maker's funding plus fees (409 "
        "`insufficient_funds` says by how much it falls short). Starting an active campaign "
        "again is a no-op.",
        request=None,
        responses={200: s.CampaignSerializer, 400: ERROR, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, campaign_id: int):
        services.campaign_start(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignPauseView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Pause a running campaign (no new trades; in-flight trades finish)",
        request=s.ReasonSerializer,
        responses={200: s.CampaignSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, campaign_id: int):
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transitions.campaign_pause(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            reason=data.validated_data["reason"], ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignResumeView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Resume a paused campaign with the same run and maker wallets",
        request=None,
        responses={200: s.CampaignSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, campaign_id: int):
        services.campaign_resume(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignSellOnlyView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Stop buying: sell what the makers hold on the campaign's cadence, then stop",
        request=None,
        responses={200: s.CampaignSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, campaign_id: int):
        services.campaign_sell_only(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignGatherView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Gather now: stop a running campaign, or re-queue a stopping one's gather",
        request=None,
        responses={200: s.CampaignSerializer, 404: NOT_FOUND},
    )
    def post(self, request, campaign_id: int):
        services.campaign_gather(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignStopView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Stop a campaign: sell what the makers hold and gather everything back",
        request=s.ReasonSerializer,
        responses={200: s.CampaignSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request, campaign_id: int):
        data = s.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.campaign_stop(
            campaign_id=campaign_id, actor=request.user, owner=request.user,
            reason=data.validated_data["reason"], ip=client_ip(request),
        )  # fmt: skip
        return _render(request, campaign_id)


class CampaignEstimateView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Estimate trades, fees, tips, price impact and SOL needed up front",
        description="Reads the pool's reserves from chain and prices round trips with the "
        "constant-product formula and the venue fee. All amounts are integer lamports. "
        "Optional `params` are merged in for the estimate only (nothing is saved).",
        request=s.EstimateRequestSerializer,
        responses={
            200: s.EstimateSerializer,
            400: ERROR,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The pool cannot be priced (message says why)."),
            503: OpenApiResponse(description="The network's RPC is not answering."),
        },
        examples=[
            OpenApiExample(
                "What if the trades were larger?",
                request_only=True,
                value={"params": {"trade_size_min_sol": "0.1", "trade_size_max_sol": "0.2"}},
            )
        ],
    )
    def post(self, request, campaign_id: int):
        data = s.EstimateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = _campaign(request, campaign_id)
        result, reserves = selectors.campaign_estimate(
            campaign=campaign, params_patch=data.validated_data.get("params")
        )
        body = {**result.as_dict(), "pool": asdict(reserves)}
        return Response(s.EstimateSerializer(body).data)


class CampaignStatusView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Live summary: status, the latest run's counters, progress and job counts",
        description="While the run is live, `jobs` are as of the engine's last status tick "
        "(every few seconds; `run.summary.stats_at`); the counters at most `STATUS_CACHE_S` "
        "(1 s) old. A start, pause, stop or edit shows at once.",
        responses={200: s.StatusSerializer, 404: NOT_FOUND},
    )
    def get(self, request, campaign_id: int):
        def compute() -> dict:
            campaign = _campaign(request, campaign_id)
            return dict(s.StatusSerializer(selectors.campaign_status(campaign=campaign)).data)

        return Response(
            status_cached(owner_id=request.user.pk, campaign_id=campaign_id, compute=compute)
        )


def _filters(query) -> selectors.LogFilters:
    return selectors.LogFilters(
        **{name: query.get(name) for name in ("status", "side", "wallet", "since", "until")}
    )


class CampaignLogsView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The campaign's executions, newest first (cursor pagination)",
        parameters=[s.LogPageQuerySerializer],
        responses={200: page_serializer(s.ExecutionSerializer), 400: ERROR, 404: NOT_FOUND},
    )
    def get(self, request, campaign_id: int):
        campaign = _campaign(request, campaign_id)
        query = s.LogPageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.executions_filtered(
            campaign=campaign, filters=_filters(query.validated_data)
        )
        return paginated(request, rows, s.ExecutionSerializer, query=query.validated_data)


CSV_COLUMNS = [
    "id", "created_at", "run_id", "job_id", "job_type", "attempt", "side", "status",
    "signature", "wallet", "slot", "fee_lamports", "tip_lamports", "sol_in_lamports",
    "sol_out_lamports", "token_in_raw", "token_out_raw", "latency_ms",
]  # fmt: skip


class CsvRenderer(BaseRenderer):
    """Lets clients ask for `Accept: text/csv`; errors still render as the JSON error body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data)


class CampaignLogsCsvView(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer]

    def handle_exception(self, exc):
        # Errors are JSON with a JSON content type even under `?format=csv` (they were sent as
        # `text/csv`).
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(
        tags=TAGS,
        summary="All the campaign's executions as CSV (streamed; same filters as the logs)",
        parameters=[s.LogQuerySerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: NOT_FOUND},
    )
    def get(self, request, campaign_id: int):
        campaign = _campaign(request, campaign_id)
        query = s.LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        pages = selectors.executions_export(
            campaign=campaign, filters=_filters(query.validated_data)
        )
        cells = (
            ["" if data[c] is None else data[c] for c in CSV_COLUMNS]
            for page in pages
            for data in s.ExecutionSerializer(page, many=True).data
        )
        response = StreamingHttpResponse(
            csv_lines(CSV_COLUMNS, cells), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="campaign-{campaign.pk}-executions.csv"'
        )
        return response


class CampaignWsTicketView(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: s.WsTicketSerializer, 404: NOT_FOUND},
        summary="A single-use ticket to open the campaign's WebSocket",
        description="Open `/ws/campaigns/<id>/?ticket=<ticket>` within `expires_in` seconds. "
        "The ticket works once, for this campaign and this user only, so no lasting "
        "credential travels in the URL.",
    )
    def post(self, request, campaign_id: int):
        campaign = _campaign(request, campaign_id)
        ticket = ws_ticket_issue(user=request.user, campaign_id=campaign.pk)
        response = Response({"ticket": ticket, "expires_in": settings.WS_TICKET_SECONDS})
        response["Cache-Control"] = "no-store"
        return response
