from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.accounts.api_keys import api_key_authenticate
from apps.accounts.models import ApiKey, ApiKeyScope


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key vbk_…`: a personal API key (apps.accounts.api_keys)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # another scheme (Bearer, a session): not ours
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the key as `Authorization: Api-Key <key>`.", code="api_key_invalid"
            )
        key = api_key_authenticate(raw=header[1].decode("latin-1"))
        if key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is not valid (unknown, expired or revoked).", code="api_key_invalid"
            )
        # The scope is checked here, once for every view: a read key never reaches a write.
        if key.scope == ApiKeyScope.READ and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied(
                "This API key may only read; use a key with the trade scope to change things.",
                code="api_key_read_only",
            )
        return key.owner, key

    def authenticate_header(self, request):
        return self.keyword


class NotWithApiKey(BasePermission):
    """Signed in with a password (session or JWT), not an API key: a leaked key must not be able
    to create its own successor or hide its tracks."""

    message = "API keys cannot manage API keys: sign in with your password."

    def has_permission(self, request, view):
        return bool(request.user) and not isinstance(request.auth, ApiKey)
