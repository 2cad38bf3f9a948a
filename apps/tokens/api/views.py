from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import PageQuerySerializer, page_serializer, paginated
from apps.tokens.api import serializers as s
from apps.tokens.selectors import pool_candidates, pool_selection_list, token_get, token_list
from apps.tokens.services import pool_select, pool_unselect, token_register

EXAMPLE_MINT = "So11111111111111111111111111111111111111112"


class TokenListView(APIView):
    @extend_schema(
        parameters=[PageQuerySerializer],
        responses=page_serializer(s.TokenSerializer),
        summary="Your registered tokens, by symbol (cursor pagination)",
        operation_id="tokens_list",
    )
    def get(self, request):
        return paginated(request, token_list(owner=request.user), s.TokenSerializer)

    @extend_schema(
        request=s.TokenRegisterSerializer,
        responses={201: s.TokenSerializer},
        summary="Register a mint (read from chain, with its metadata)",
        examples=[OpenApiExample("Register", value={"mint": EXAMPLE_MINT, "network": "localnet"})],
    )
    def post(self, request):
        data = s.TokenRegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = token_register(owner=request.user, **data.validated_data)
        return Response(s.TokenSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    @extend_schema(responses=s.TokenSerializer, summary="One of your tokens")
    def get(self, request, token_id: int):
        return Response(s.TokenSerializer(token_get(owner=request.user, token_id=token_id)).data)


class PoolListView(APIView):
    @extend_schema(
        parameters=[s.PoolQuerySerializer],
        responses=s.PoolCandidateSerializer(many=True),
        summary="Discover a mint's SOL pools on every venue (cached; refresh=true reads chain)",
    )
    def get(self, request):
        query = s.PoolQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(pool_candidates(**query.validated_data))

    @extend_schema(
        request=s.PoolSelectSerializer,
        responses={
            201: s.PoolSelectionSerializer,
            404: OpenApiResponse(description="No such token (or not yours)."),
        },
        summary="Select a discovered pool of one of your tokens for campaigns",
    )
    def post(self, request):
        data = s.PoolSelectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        selection = pool_select(owner=request.user, **data.validated_data)
        return Response(s.PoolSelectionSerializer(selection).data, status=status.HTTP_201_CREATED)


class PoolSelectionListView(APIView):
    @extend_schema(
        parameters=[PageQuerySerializer],
        responses=page_serializer(s.PoolSelectionSerializer),
        summary="Your selected pools, newest first (cursor pagination)",
        operation_id="pools_selected_list",
    )
    def get(self, request):
        selections = pool_selection_list(owner=request.user)
        return paginated(request, selections, s.PoolSelectionSerializer)


class PoolSelectionDetailView(APIView):
    @extend_schema(responses={204: None}, summary="Unselect a pool")
    def delete(self, request, selection_id: int):
        get_object_or_404(pool_selection_list(owner=request.user), pk=selection_id)
        pool_unselect(owner=request.user, selection_id=selection_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
