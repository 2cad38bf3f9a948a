"""OpenAPI (drf-spectacular) descriptions of the project's own authentication classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class StampedJWTScheme(SimpleJWTScheme):
    """The bearer JWT scheme, for simplejwt's authentication with revocation."""

    target_class = "apps.accounts.tokens.StampedJWTAuthentication"
