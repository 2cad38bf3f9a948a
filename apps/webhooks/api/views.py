from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import PageQuerySerializer, page_serializer, paginated
from apps.core.services import client_ip
from apps.webhooks import selectors, services
from apps.webhooks.api.serializers import (
    DeliverySerializer,
    TestRequestSerializer,
    TestResponseSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
)

TAGS = ["webhooks"]
ERROR = OpenApiResponse(description='`{"error": {"code", "message", "fields"}}`')


def _with_secret(webhook, secret: str) -> dict:
    return {**WebhookSerializer(webhook).data, "secret": secret}


class WebhookListView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Your webhooks, newest first (cursor pagination)",
        operation_id="webhooks_list",
        parameters=[PageQuerySerializer],
        responses={200: page_serializer(WebhookSerializer), 400: ERROR},
    )
    def get(self, request):
        return paginated(request, selectors.webhook_list(owner=request.user), WebhookSerializer)

    @extend_schema(
        tags=TAGS,
        summary="Register a webhook (the secret is in this response only)",
        description="The URL must be http(s) and resolve to public addresses only.",
        request=WebhookCreateSerializer,
        responses={201: WebhookWithSecretSerializer, 400: ERROR},
    )
    def post(self, request):
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(
            owner=request.user, ip=client_ip(request), **serializer.validated_data
        )
        response = Response(_with_secret(webhook, secret), status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class WebhookDetailView(APIView):
    @extend_schema(tags=TAGS, summary="One webhook", responses={200: WebhookSerializer, 404: ERROR})
    def get(self, request, webhook_id: int):
        webhook = selectors.webhook_get(owner=request.user, webhook_id=webhook_id)
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(
        tags=TAGS,
        summary="Change the URL, events, description or active flag",
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, 400: ERROR, 404: ERROR},
    )
    def patch(self, request, webhook_id: int):
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(
            owner=request.user, webhook_id=webhook_id, ip=client_ip(request),
            **serializer.validated_data,
        )  # fmt: skip
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(tags=TAGS, summary="Delete a webhook", responses={204: None, 404: ERROR})
    def delete(self, request, webhook_id: int):
        services.webhook_delete(owner=request.user, webhook_id=webhook_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Replace the signing secret (the new one is in this response only)",
        request=None,
        responses={200: WebhookWithSecretSerializer, 404: ERROR},
    )
    def post(self, request, webhook_id: int):
        webhook, secret = services.webhook_rotate_secret(
            owner=request.user, webhook_id=webhook_id, ip=client_ip(request)
        )
        response = Response(_with_secret(webhook, secret))
        response["Cache-Control"] = "no-store"
        return response


class WebhookDeliveriesView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="A webhook's deliveries, newest first, each with its attempts (cursor pagination)",
        operation_id="webhooks_deliveries_list",
        parameters=[PageQuerySerializer],
        responses={200: page_serializer(DeliverySerializer), 400: ERROR, 404: ERROR},
    )
    def get(self, request, webhook_id: int):
        webhook = selectors.webhook_get(owner=request.user, webhook_id=webhook_id)
        return paginated(request, selectors.webhook_deliveries(webhook=webhook), DeliverySerializer)


class DeliveryResendView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Send a delivery again (a new delivery, same event id and body)",
        request=None,
        responses={202: DeliverySerializer, 404: ERROR},
    )
    def post(self, request, delivery_id: int):
        delivery = services.delivery_resend(owner=request.user, delivery_id=delivery_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookTestView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Send a signed `ping` now; returns the receiver's status and latency",
        request=TestRequestSerializer,
        responses={200: TestResponseSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request):
        serializer = TestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.webhook_test(
            owner=request.user, webhook_id=serializer.validated_data["webhook_id"]
        )
        return Response(TestResponseSerializer(result).data)
