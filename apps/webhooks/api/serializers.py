from rest_framework import serializers

from apps.core.events import EVENT_TYPES
from apps.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

EVENT_CHOICES = sorted(EVENT_TYPES)


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Webhook
        fields = [
            "id", "url", "events", "description", "active", "secret_hint", "consecutive_failures",
            "disabled_reason", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="The signing secret. Shown this once: keep it.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=120, default=""
    )


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(required=False, max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=120)
    active = serializers.BooleanField(required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "status_code", "latency_ms", "error", "next_retry_at", "created_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    attempts_log = AttemptSerializer(source="log", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "event_id", "event_type", "event_at", "status", "attempts", "next_attempt_at",
            "last_status_code", "last_error", "created_at", "completed_at", "attempts_log",
        ]  # fmt: skip
        read_only_fields = fields


class TestRequestSerializer(serializers.Serializer):
    webhook_id = serializers.IntegerField()


class TestResponseSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    event_id = serializers.CharField()
