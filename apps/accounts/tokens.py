"""API tokens (simplejwt) that can be revoked.

Every token carries a `stamp`: an HMAC of the user's password hash and `token_version`. A token
whose stamp no longer matches the user is refused, by the authentication class (access tokens),
the refresh and the verify endpoints alike. So changing or resetting the password revokes every
token of the user at once, and so does bumping `token_version` (sign-out everywhere, an
operator's suspension: `apps.accounts.services.user_tokens_revoke`). Refresh tokens also rotate:
each refresh answers a new one and blacklists the one used (simplejwt's token_blacklist app), so
a stolen refresh token that was already used is refused.
"""

from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import (
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken

from apps.accounts.models import User

STAMP_CLAIM = "stamp"
REVOKED_MESSAGE = "This token was revoked (password changed, or signed out): sign in again."


def token_stamp(user: User) -> str:
    """What a live token of `user` carries: changes with the password and the token version."""
    material = f"{user.password}:{user.token_version}"
    return salted_hmac("accounts.token-stamp", material, algorithm="sha256").hexdigest()[:32]


def _revoked() -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(REVOKED_MESSAGE, code="token_revoked")


def token_user(token: Token) -> User:
    """The active user whose live token this is; AuthenticationFailed (401) otherwise."""
    user = User.objects.filter(pk=token.get(api_settings.USER_ID_CLAIM)).first()
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed(
            "No active account found for the given token.", code="no_active_account"
        )
    if not constant_time_compare(str(token.get(STAMP_CLAIM, "")), token_stamp(user)):
        raise _revoked()
    return user


class StampedRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user: User) -> "StampedRefreshToken":
        token = super().for_user(user)
        # Copied into every access token made from it (and kept through rotations).
        token[STAMP_CLAIM] = token_stamp(user)
        return token


class StampedJWTAuthentication(JWTAuthentication):
    """simplejwt's bearer authentication, refusing revoked tokens. The user is read once per
    request (`token_user` checks what simplejwt's own `get_user` would: the user exists and is
    active), not twice."""

    def get_user(self, validated_token: Token) -> User:
        if api_settings.USER_ID_CLAIM not in validated_token:
            raise InvalidToken("Token contained no recognizable user identification")
        return token_user(validated_token)


class StampedTokenRefreshSerializer(TokenRefreshSerializer):
    token_class = StampedRefreshToken

    def validate(self, attrs):
        token_user(self.token_class(attrs["refresh"]))
        return super().validate(attrs)


class StampedTokenVerifySerializer(TokenVerifySerializer):
    def validate(self, attrs):
        data = super().validate(attrs)
        token_user(UntypedToken(attrs["token"]))
        return data
