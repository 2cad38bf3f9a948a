"""Admin for the core and operator models, and the operator actions on run-engine jobs.

Every action calls a service, which audits it with the operator as actor and is a no-op when
repeated; the message says how many rows actually changed.
"""

import json

from django.contrib import admin, messages
from django.http import StreamingHttpResponse

from apps.admin_ops import services
from apps.admin_ops.models import Alert
from apps.core.csv_export import csv_lines
from apps.core.models import AuditEvent, SystemSwitch
from apps.core.services import client_ip
from apps.execution.admin import JobAdmin
from apps.execution.models import Job


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: append-only, so nothing here can add, change or delete a row."""

    list_display = ["created_at", "actor", "action", "entity", "entity_id", "ip"]
    list_filter = ["action", "entity", "created_at"]
    search_fields = ["actor__email", "action", "entity", "entity_id", "ip"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request, queryset):
        # Streamed: "select all" over a filtered log can be large.
        header = ["created_at", "actor", "action", "entity", "entity_id", "ip", "metadata"]
        events = queryset.select_related("actor").order_by("created_at", "id").iterator()
        rows = (
            [
                event.created_at.isoformat(),
                event.actor.email if event.actor else "",
                event.action,
                event.entity,
                event.entity_id,
                event.ip or "",
                _json(event.metadata),
            ]
            for event in events
        )
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@admin.register(SystemSwitch)
class SystemSwitchAdmin(admin.ModelAdmin):
    """Shown, not edited: the switches move through the control room, which audits and
    notifies users."""

    list_display = ["name", "enabled", "message", "updated_by", "updated_at"]
    readonly_fields = ["name", "enabled", "message", "updated_by", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["last_seen_at", "kind", "user", "campaign", "count", "message", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter), "last_seen_at"]
    search_fields = ["user__email", "message", "campaign__name"]
    list_select_related = ["user", "campaign"]
    date_hierarchy = "last_seen_at"
    actions = ["resolve"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resolve selected alerts")
    def resolve(self, request, queryset):
        pending = list(queryset.filter(resolved_at__isnull=True).values_list("pk", flat=True))
        for alert_id in pending:
            services.alert_resolve(alert_id=alert_id, actor=request.user, ip=client_ip(request))
        self.message_user(request, f"{len(pending)} alert(s) resolved.", messages.SUCCESS)


admin.site.unregister(Job)


@admin.register(Job)
class OpsJobAdmin(JobAdmin):
    """The engine's read-only job list, plus the re-drive of dead-letter jobs."""

    actions = ["redrive"]
    list_display = [*JobAdmin.list_display, "error_code"]

    @admin.display(description="error")
    def error_code(self, obj):
        return (obj.error or {}).get("code", "")

    @admin.action(description="Re-drive selected dead-letter jobs")
    def redrive(self, request, queryset):
        ids = list(queryset.filter(status=Job.Status.DEAD).values_list("pk", flat=True))
        done = services.jobs_redrive(job_ids=ids, actor=request.user, ip=client_ip(request))
        skipped = queryset.count() - len(done)
        text = f"{len(done)} job(s) re-driven."
        if skipped:
            text += f" {skipped} skipped (not dead)."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)
