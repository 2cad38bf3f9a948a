from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from apps.accounts.api.serializers import MeSerializer, VerifiedTokenObtainPairSerializer
from apps.accounts.services import user_tokens_revoke
from apps.accounts.tokens import StampedTokenRefreshSerializer, StampedTokenVerifySerializer
from apps.core.services import client_ip


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in user")
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TokenObtainView(TokenObtainPairView):
    serializer_class = VerifiedTokenObtainPairSerializer
    throttle_scope = "token"


class TokenRefreshRotatingView(TokenRefreshView):
    """A new access token and a new refresh token; the refresh token sent is spent."""

    serializer_class = StampedTokenRefreshSerializer
    throttle_scope = "token"


class TokenVerifyStampedView(TokenVerifyView):
    serializer_class = StampedTokenVerifySerializer


class SignOutEverywhereView(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        summary="Revoke every API token and end every session of the signed-in user",
    )
    def post(self, request):
        user_tokens_revoke(
            user_id=request.user.pk, actor=request.user, reason="signout_everywhere",
            ip=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)
