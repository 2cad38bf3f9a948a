from rest_framework import exceptions, serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from apps.accounts.models import User


class MeSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True)
    email_verified = serializers.BooleanField(source="is_verified", read_only=True)

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


class VerifiedTokenObtainPairSerializer(TokenObtainPairSerializer):
    """JWTs only for accounts whose e-mail is verified, like the sign-in page."""

    def validate(self, attrs):
        data = super().validate(attrs)
        if not self.user.is_verified:
            raise exceptions.AuthenticationFailed(
                "Verify your e-mail address first.", code="email_not_verified"
            )
        return data
