"""Webhooks in the operator console: the signing secret is excluded everywhere (its ciphertext
too); deliveries and their attempts are read-only."""

from django.contrib import admin

from apps.webhooks.models import NotificationPreferences, Webhook, WebhookAttempt, WebhookDelivery


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "active", "consecutive_failures", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "owner__email"]
    list_select_related = ["owner"]
    fields = [
        "owner", "url", "events", "description", "active", "secret_hint", "consecutive_failures",
        "disabled_reason", "created_at", "updated_at",
    ]  # fmt: skip
    # The URL is read-only here: a change must pass the SSRF guard in the services. An operator
    # may switch a webhook off (or back on).
    readonly_fields = [
        "owner", "url", "events", "description", "secret_hint", "consecutive_failures",
        "disabled_reason", "created_at", "updated_at",
    ]  # fmt: skip
    exclude = ["encrypted_secret"]

    def has_add_permission(self, request):
        return False


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "status_code", "latency_ms", "error", "next_retry_at", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "webhook", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "webhook__url"]
    list_select_related = ["webhook"]
    readonly_fields = [
        "webhook", "event_id", "event_type", "event_at", "data", "status", "attempts",
        "next_attempt_at", "last_status_code", "last_error", "created_at", "completed_at",
    ]  # fmt: skip
    inlines = [AttemptInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreferences)
class NotificationPreferencesAdmin(admin.ModelAdmin):
    list_display = ["user", "campaign_started", "campaign_completed", "daily_summary", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
