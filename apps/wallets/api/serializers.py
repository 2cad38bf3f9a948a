from rest_framework import serializers

from apps.wallets.models import Wallet

MODES = [
    ("import", "Import a secret key"),
    ("generate", "Generate a new key"),
    ("watch", "Watch an address"),
]


class WalletSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(source="is_verified", read_only=True)

    class Meta:
        model = Wallet
        fields = [
            "id", "address", "kind", "label", "active", "verified", "verified_at", "run_id",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class WalletCreateSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES)
    secret_key = serializers.CharField(
        required=False, allow_blank=True, write_only=True, max_length=1024,
        help_text="mode=import: a base58 64-byte secret key, a JSON array of 64 numbers "
        "(Solana CLI keypair file) or a base58 32-byte seed.",
    )  # fmt: skip
    address = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="mode=watch: the address."
    )
    label = serializers.CharField(required=False, allow_blank=True, max_length=80, default="")
    preview = serializers.BooleanField(
        required=False, default=False,
        help_text="Only derive and return the address (import, watch); nothing is saved.",
    )  # fmt: skip


class WalletPreviewSerializer(serializers.Serializer):
    address = serializers.CharField()
    kind = serializers.CharField()
    preview = serializers.BooleanField()
    exists = serializers.BooleanField(help_text="You already have this wallet.")


class WalletUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(required=False, allow_blank=True, max_length=80)
    active = serializers.BooleanField(required=False)


class TokenBalanceSerializer(serializers.Serializer):
    mint = serializers.CharField()
    program = serializers.ChoiceField(choices=["spl", "token2022"])
    amount_raw = serializers.CharField(help_text="Integer amount in base units, as a string.")
    decimals = serializers.IntegerField()
    amount = serializers.CharField(source="display", help_text="amount_raw with its decimals.")


class BalancesSerializer(serializers.Serializer):
    address = serializers.CharField()
    network = serializers.CharField()
    lamports = serializers.IntegerField(allow_null=True)
    sol = serializers.CharField(help_text="lamports with 9 decimals; empty when unavailable.")
    tokens = TokenBalanceSerializer(many=True)
    fetched_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why the chain could not be read; empty if it was.")


class VerifyRequestSerializer(serializers.Serializer):
    signature = serializers.CharField(
        required=False, allow_blank=True, max_length=128,
        help_text="Omit to get the message to sign; then send the base58 ed25519 signature "
        "of its UTF-8 bytes by the wallet's key.",
    )  # fmt: skip


class VerifyResponseSerializer(serializers.Serializer):
    verified = serializers.BooleanField()
    verified_at = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_null=True, help_text="The message to sign, if any.")
    expires_at = serializers.DateTimeField(allow_null=True)


class ExportRequestSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, help_text="Your account password.")
    otp_code = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        max_length=16,
        help_text="A current code from your authenticator app, or an unused recovery code "
        "(two-factor authentication must be on).",
    )


class ExportResponseSerializer(serializers.Serializer):
    address = serializers.CharField()
    secret_key_base58 = serializers.CharField(source="base58")
    secret_key_json = serializers.ListField(child=serializers.IntegerField(), source="json_array")
