from django.conf import settings
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import PageQuerySerializer, page_serializer, paginated
from apps.core.services import client_ip
from apps.core.throttling import api_throttle
from apps.wallets import selectors, services
from apps.wallets.api.serializers import (
    BalancesSerializer,
    ExportRequestSerializer,
    ExportResponseSerializer,
    VerifyRequestSerializer,
    VerifyResponseSerializer,
    WalletCreateSerializer,
    WalletPreviewSerializer,
    WalletSerializer,
    WalletUpdateSerializer,
)
from apps.wallets.models import Wallet

TAGS = ["wallets"]
ERROR = OpenApiResponse(description='`{"error": {"code", "message", "fields"}}`')


@method_decorator(sensitive_post_parameters("secret_key"), name="dispatch")
class WalletListView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Your wallets, oldest first (cursor pagination)",
        operation_id="wallets_list",
        parameters=[
            PageQuerySerializer,
            OpenApiParameter(
                "kind", enum=Wallet.Kind.values, description="Only this kind (makers: only so)."
            ),
        ],
        responses={200: page_serializer(WalletSerializer), 400: ERROR},
    )
    def get(self, request):
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in Wallet.Kind.values:
            raise exceptions.ValidationError({"kind": ["Choose custodial, watch or maker."]})
        wallets = selectors.wallet_list(owner=request.user, kind=kind)
        return paginated(request, wallets, WalletSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Import, generate or watch a wallet (or preview its address)",
        request=WalletCreateSerializer,
        responses={201: WalletSerializer, 200: WalletPreviewSerializer, 400: ERROR},
    )
    def post(self, request):
        serializer = WalletCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        mode, label, ip = data["mode"], data["label"], client_ip(request)
        if data["preview"]:
            address, exists = selectors.wallet_address_preview(
                owner=request.user,
                mode=mode,
                secret_key=data.get("secret_key", ""),
                address=data.get("address", ""),
            )
            kind = Wallet.Kind.WATCH if mode == "watch" else Wallet.Kind.CUSTODIAL
            body = {"address": address, "kind": kind, "preview": True, "exists": exists}
            return Response(WalletPreviewSerializer(body).data)
        if mode in ("import", "generate"):
            api_throttle(request, "wallet_create")
        if mode == "import":
            wallet = services.wallet_import(
                owner=request.user, secret_key=data.get("secret_key", ""), label=label, ip=ip
            )
        elif mode == "generate":
            wallet = services.wallet_generate(owner=request.user, label=label, ip=ip)
        else:
            wallet = services.wallet_watch(
                owner=request.user, address=data.get("address", ""), label=label, ip=ip
            )
        return Response(WalletSerializer(wallet).data, status=status.HTTP_201_CREATED)


class WalletDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One wallet", responses={200: WalletSerializer, 404: ERROR})
    def get(self, request, wallet_id: int):
        wallet = selectors.wallet_get(owner=request.user, wallet_id=wallet_id)
        return Response(WalletSerializer(wallet).data)

    @extend_schema(
        tags=TAGS,
        summary="Change the label or the active flag",
        request=WalletUpdateSerializer,
        responses={200: WalletSerializer, 400: ERROR, 404: ERROR},
    )
    def patch(self, request, wallet_id: int):
        serializer = WalletUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wallet = services.wallet_update(
            wallet_id=wallet_id,
            owner=request.user,
            label=serializer.validated_data.get("label"),
            active=serializer.validated_data.get("active"),
            ip=client_ip(request),
        )
        return Response(WalletSerializer(wallet).data)

    @extend_schema(
        tags=TAGS,
        summary="Delete a wallet (refused while an active campaign uses it)",
        responses={204: None, 404: ERROR, 409: ERROR},
    )
    def delete(self, request, wallet_id: int):
        services.wallet_delete(wallet_id=wallet_id, owner=request.user, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WalletBalancesView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="SOL and token balances (cached briefly)",
        parameters=[OpenApiParameter("network", description="Defaults to SOLANA_DEFAULT_NETWORK.")],
        responses={200: BalancesSerializer, 404: ERROR},
    )
    def get(self, request, wallet_id: int):
        network = request.query_params.get("network") or None
        if network is not None and network not in settings.SOLANA_RPC_URLS:
            raise exceptions.ValidationError(
                {"network": ["Choose one of: " + ", ".join(settings.SOLANA_RPC_URLS) + "."]}
            )
        wallet = selectors.wallet_get(owner=request.user, wallet_id=wallet_id)
        balances = selectors.wallet_balances(wallet=wallet, network=network)
        return Response(BalancesSerializer(balances).data)


class WalletVerifyView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Prove ownership of a watch-only wallet",
        description="Without `signature`: returns a one-time message (valid 10 minutes). "
        "With `signature`: checks the wallet's ed25519 signature of that message's UTF-8 "
        "bytes and marks the wallet verified. Custodial and maker wallets are verified "
        "already.",
        request=VerifyRequestSerializer,
        responses={200: VerifyResponseSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request, wallet_id: int):
        serializer = VerifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        signature = serializer.validated_data.get("signature", "").strip()
        if signature:
            wallet = services.wallet_verification_complete(
                wallet_id=wallet_id, owner=request.user, signature=signature, ip=client_ip(request)
            )
            challenge = None
        else:
            challenge = services.wallet_verification_start(wallet_id=wallet_id, owner=request.user)
            wallet = selectors.wallet_get(owner=request.user, wallet_id=wallet_id)
        body = {
            "verified": wallet.is_verified,
            "verified_at": wallet.verified_at,
            "message": challenge.message if challenge else None,
            "expires_at": challenge.expires_at if challenge else None,
        }
        return Response(VerifyResponseSerializer(body).data)


@method_decorator(sensitive_post_parameters("password", "otp_code"), name="dispatch")
class WalletExportView(APIView):
    throttle_scope = "wallet_export"

    @extend_schema(
        tags=TAGS,
        summary="Export the secret key (password and second-factor code; audited; 5 per hour)",
        request=ExportRequestSerializer,
        responses={
            200: ExportResponseSerializer,
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request, wallet_id: int):
        # Another user's wallet is a 404 before anything else, as on every object route (a
        # missing password used to answer 400 first).
        selectors.wallet_get(owner=request.user, wallet_id=wallet_id)
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            exported = services.wallet_export(
                wallet_id=wallet_id,
                owner=request.user,
                password=serializer.validated_data["password"],
                otp_code=serializer.validated_data["otp_code"],
                ip=client_ip(request),
            )
        except services.ExportThrottled as error:
            # DRF's Throttled carries the Retry-After header.
            raise exceptions.Throttled(wait=error.retry_after, detail=error.message) from None
        response = Response(ExportResponseSerializer(exported).data)
        response["Cache-Control"] = "no-store"
        return response
