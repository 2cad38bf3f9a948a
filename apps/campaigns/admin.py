from django.contrib import admin

from apps.campaigns.models import Campaign, CampaignRun


class CampaignRunInline(admin.TabularInline):
    model = CampaignRun
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "status", "started_at", "ended_at", "volume_lamports", "trades_total",
        "trades_succeeded", "trades_failed", "status_reason",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Read-mostly: status only moves through the services (the operator console's override
    actions call them), never by editing the row."""

    list_display = [
        "id", "name", "owner", "status", "network", "token", "pool", "start_at", "end_at",
        "updated_at",
    ]  # fmt: skip
    list_filter = ["status", "network", "pool__dex"]
    search_fields = ["name", "owner__email", "token__mint", "token__symbol", "pool__address"]
    list_select_related = ["owner", "token", "pool"]
    readonly_fields = [
        "owner", "token", "pool", "funding_wallet", "network", "status", "status_reason",
        "params", "start_at", "end_at", "created_at", "updated_at",
    ]  # fmt: skip
    fields = ["name", *readonly_fields]
    inlines = [CampaignRunInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(CampaignRun)
class CampaignRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "campaign", "status", "started_at", "ended_at", "volume_lamports", "trades_total",
        "trades_succeeded", "trades_failed", "fees_lamports", "tips_lamports",
        "price_impact_lamports",
    ]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["campaign__name", "campaign__owner__email"]
    list_select_related = ["campaign"]
    date_hierarchy = "started_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in CampaignRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
