"""OpenAPI (drf-spectacular) descriptions of the project's own authentication classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class StampedJWTScheme(SimpleJWTScheme):
    """The bearer JWT scheme, for simplejwt's authentication with revocation."""

    target_class = "apps.accounts.tokens.StampedJWTAuthentication"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.api.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API key: `Api-Key vbk_…` (created with "
            "`POST /v1/api-keys`). Scope `read` allows GET only, `trade` every write.",
        }
