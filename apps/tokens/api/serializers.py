from rest_framework import serializers

from apps.tokens.models import Network, Pool, PoolSelection, Token


class TokenSerializer(serializers.ModelSerializer):
    supply_raw = serializers.CharField(read_only=True, help_text="Raw units (integer as a string).")

    class Meta:
        model = Token
        fields = [
            "id", "network", "mint", "program", "decimals", "supply_raw", "mint_authority",
            "freeze_authority", "name", "symbol", "uri", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class TokenRegisterSerializer(serializers.Serializer):
    mint = serializers.CharField(max_length=64)
    network = serializers.ChoiceField(choices=Network.choices, default=Network.LOCALNET)


class PoolQuerySerializer(serializers.Serializer):
    mint = serializers.CharField(max_length=64)
    network = serializers.ChoiceField(choices=Network.choices, default=Network.LOCALNET)
    refresh = serializers.BooleanField(default=False)


class PoolCandidateSerializer(serializers.Serializer):
    dex = serializers.CharField()
    venue = serializers.CharField()
    address = serializers.CharField()
    base_mint = serializers.CharField()
    quote_mint = serializers.CharField()
    base_reserve_raw = serializers.IntegerField()
    quote_reserve_lamports = serializers.IntegerField()
    price_sol = serializers.CharField(help_text="SOL per whole token (display only).")
    liquidity_lamports = serializers.IntegerField()
    fee_bps = serializers.IntegerField()
    migrated = serializers.BooleanField()
    progress_bps = serializers.IntegerField(allow_null=True)


class PoolSelectSerializer(serializers.Serializer):
    token_id = serializers.IntegerField()
    address = serializers.CharField(max_length=64)


class PoolSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pool
        fields = [
            "id",
            "network",
            "token",
            "dex",
            "address",
            "quote_mint",
            "metadata",
            "fetched_at",
        ]
        read_only_fields = fields


class PoolSelectionSerializer(serializers.ModelSerializer):
    pool = PoolSerializer(read_only=True)

    class Meta:
        model = PoolSelection
        fields = ["id", "pool", "created_at"]
        read_only_fields = fields
