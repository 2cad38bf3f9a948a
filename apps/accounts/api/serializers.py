from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from apps.accounts.models import User
from apps.accounts.selectors import signin_lockout_seconds
from apps.accounts.services import LOCKED_OUT_MESSAGE, signin_identifier
from apps.accounts.tokens import StampedRefreshToken


class MeSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True)
    email_verified = serializers.BooleanField(source="email_is_verified", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "display_name",
            "role",
            "email_verified",
            "mainnet_allowed",
            "attested_at",
            "date_joined",
        ]
        read_only_fields = fields


class SignInLockedOut(exceptions.Throttled):
    default_code = "locked_out"


class VerifiedTokenObtainPairSerializer(TokenObtainPairSerializer):
    """JWTs only for accounts whose e-mail is verified, like the sign-in page."""

    token_class = StampedRefreshToken

    def validate(self, attrs):
        request = self.context["request"]
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            # django-axes refused before the password was even checked (it flags the DRF
            # request it was given, which its middleware never sees): a 429, not a 401.
            if getattr(request, "axes_locked_out", False):
                wait = signin_lockout_seconds(
                    request=request, username=signin_identifier(request, attrs)
                )
                raise SignInLockedOut(wait=wait, detail=LOCKED_OUT_MESSAGE) from None
            raise
        if not self.user.email_is_verified:
            raise exceptions.AuthenticationFailed(
                "Verify your e-mail address first.", code="email_not_verified"
            )
        return data
