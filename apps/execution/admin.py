"""Read-only views of the run engine's rows (re-drive of dead jobs comes with the engine)."""

from django.contrib import admin

from apps.execution.models import Execution, Job, LedgerEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "run", "type", "queue", "status", "attempts", "scheduled_for", "updated_at",
    ]  # fmt: skip
    list_filter = ["status", "type", "queue"]
    search_fields = ["idempotency_key", "run__campaign__name"]
    list_select_related = ["run"]
    date_hierarchy = "created_at"


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "run", "side", "status", "signature", "wallet", "fee_lamports",
        "tip_lamports", "sol_in_lamports", "sol_out_lamports", "latency_ms",
    ]  # fmt: skip
    list_filter = ["status", "side"]
    search_fields = ["signature", "wallet__address", "bundle_id"]
    list_select_related = ["run", "wallet"]
    date_hierarchy = "created_at"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "run", "wallet", "kind", "lamports_delta", "mint", "token_delta_raw",
        "execution",
    ]  # fmt: skip
    list_filter = ["kind"]
    search_fields = ["wallet__address", "mint", "execution__signature"]
    list_select_related = ["run", "wallet", "execution"]
    date_hierarchy = "created_at"
