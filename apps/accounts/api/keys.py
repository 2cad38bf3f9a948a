from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.api.authentication import NotWithApiKey
from apps.accounts.api_keys import api_key_create, api_key_list, api_key_revoke
from apps.accounts.models import ApiKey, ApiKeyScope
from apps.core.services import client_ip

TAGS = ["api keys"]
ERROR = OpenApiResponse(description='`{"error": {"code", "message", "fields"}}`')


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "scope", "created_at", "expires_at", "last_used_at",
            "revoked_at",
        ]  # fmt: skip
        read_only_fields = fields


class ApiKeyWithSecretSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices)
    expires_in_days = serializers.IntegerField(min_value=1, default=90)


class ApiKeyListView(APIView):
    permission_classes = [IsAuthenticated, NotWithApiKey]

    @extend_schema(tags=TAGS, summary="Your API keys", responses=ApiKeySerializer(many=True))
    def get(self, request):
        return Response(ApiKeySerializer(api_key_list(owner=request.user), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Create an API key (the key is in this response only)",
        description="Send it as `Authorization: Api-Key <key>`. Scope `read` allows GET only; "
        "`trade` every write. Only a password sign-in (session or JWT) may manage keys.",
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyWithSecretSerializer, 400: ERROR, 403: ERROR},
    )
    def post(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = api_key_create(
            owner=request.user, ip=client_ip(request), **serializer.validated_data
        )
        response = Response(
            {**ApiKeySerializer(key).data, "key": raw}, status=status.HTTP_201_CREATED
        )
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyDetailView(APIView):
    permission_classes = [IsAuthenticated, NotWithApiKey]

    @extend_schema(
        tags=TAGS, summary="Revoke an API key (at once)", responses={204: None, 404: ERROR}
    )
    def delete(self, request, key_id: int):
        api_key_revoke(owner=request.user, key_id=key_id, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
