from django.contrib import admin, messages

from apps.admin_ops.services import campaign_force_gather
from apps.campaigns.models import Campaign, CampaignRun
from apps.campaigns.services import campaign_resume, campaign_stop
from apps.campaigns.transitions import campaign_pause
from apps.core.errors import Conflict
from apps.core.services import client_ip


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
    actions = ["pause", "resume", "stop", "force_gather"]

    def has_add_permission(self, request):
        return False

    def _override(self, request, queryset, transition, verb: str) -> None:
        """Apply one operator override per campaign (each audited with the operator as actor);
        campaigns already in the target state are no-ops, refused ones are reported."""
        changed, refused = 0, []
        for campaign in queryset.order_by("pk"):
            before = campaign.status
            try:
                after = transition(
                    campaign_id=campaign.pk, actor=request.user, ip=client_ip(request)
                )
            except Conflict as error:
                refused.append(f"{campaign.name}: {error.message}")
                continue
            changed += after.status != before
        self.message_user(request, f"{changed} campaign(s) {verb}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Pause selected campaigns")
    def pause(self, request, queryset):
        self._override(request, queryset, campaign_pause, "paused")

    @admin.action(description="Resume selected campaigns")
    def resume(self, request, queryset):
        self._override(request, queryset, campaign_resume, "resumed")

    @admin.action(description="Stop selected campaigns (gathers funds)")
    def stop(self, request, queryset):
        self._override(request, queryset, campaign_stop, "stopped")

    @admin.action(description="Force gather of selected campaigns")
    def force_gather(self, request, queryset):
        self._override(request, queryset, campaign_force_gather, "sent to gather")


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
