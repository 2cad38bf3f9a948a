from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apps.accounts.models import Role, User
from apps.accounts.services import user_set_role
from apps.accounts.stepup import code_confirmed
from apps.admin_ops.services import user_set_mainnet, user_suspend, user_unsuspend
from apps.core.errors import Conflict
from apps.core.services import client_ip


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Access (role, suspension, mainnet) changes only through the actions, which audit them
    with the operator as actor; the form shows those fields read-only."""

    ordering = ["email"]
    list_display = [
        "email", "display_name", "role", "is_verified", "mainnet_allowed", "is_active",
        "date_joined", "last_login",
    ]  # fmt: skip
    list_filter = ["is_staff", "is_active", "mainnet_allowed"]
    search_fields = ["email", "display_name"]
    readonly_fields = [
        "date_joined", "last_login", "email_verified_at", "attested_at", "is_active", "is_staff",
        "is_superuser", "mainnet_allowed",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["email", "password", "display_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "mainnet_allowed"]}),
        ("Limits", {"fields": ["max_trades_per_minute", "max_makers"]}),
        ("History", {"fields": ["date_joined", "last_login", "email_verified_at", "attested_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    actions = [
        "make_admin", "make_user", "suspend", "unsuspend", "allow_mainnet", "disallow_mainnet",
    ]  # fmt: skip

    @admin.display(boolean=True, description="verified")
    def is_verified(self, obj):
        return obj.email_is_verified

    def _each(self, request, queryset, apply, field: str, verb: str) -> None:
        """Run an audited, idempotent service per user; report how many actually changed."""
        changed = 0
        for user in queryset.order_by("pk"):
            before = getattr(user, field)
            try:
                after = apply(user)
            except Conflict as error:
                self.message_user(request, f"{user.email}: {error.message}", messages.WARNING)
                continue
            changed += getattr(after, field) != before
        self.message_user(request, f"{changed} user(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Make selected users admins")
    def make_admin(self, request, queryset):
        self._each(
            request, queryset,
            lambda u: user_set_role(user_id=u.pk, role=Role.ADMIN, actor=request.user),
            "is_staff", "made admins",
        )  # fmt: skip

    @admin.action(description="Make selected users plain users")
    def make_user(self, request, queryset):
        def apply(user):
            if user.pk == request.user.pk:
                raise Conflict("You cannot remove your own admin role.")
            return user_set_role(user_id=user.pk, role=Role.USER, actor=request.user)

        self._each(request, queryset, apply, "is_staff", "made plain users")

    @admin.action(description="Suspend selected users (signs them out, pauses their runs)")
    def suspend(self, request, queryset):
        ip = client_ip(request)
        self._each(
            request, queryset, lambda u: user_suspend(user_id=u.pk, actor=request.user, ip=ip),
            "is_active", "suspended",
        )  # fmt: skip

    @admin.action(description="Lift the suspension of selected users")
    def unsuspend(self, request, queryset):
        ip = client_ip(request)
        self._each(
            request, queryset, lambda u: user_unsuspend(user_id=u.pk, actor=request.user, ip=ip),
            "is_active", "reinstated",
        )  # fmt: skip

    @admin.action(description="Allow mainnet for selected users (asks for a two-factor code)")
    def allow_mainnet(self, request, queryset):
        page = code_confirmed(
            self, request, queryset, action="account.mainnet_allow", title="Allow mainnet"
        )
        if page is not None:
            return page
        ip = client_ip(request)
        self._each(
            request, queryset,
            lambda u: user_set_mainnet(user_id=u.pk, allowed=True, actor=request.user, ip=ip),
            "mainnet_allowed", "allowed on mainnet",
        )  # fmt: skip

    @admin.action(description="Disallow mainnet for selected users")
    def disallow_mainnet(self, request, queryset):
        ip = client_ip(request)
        self._each(
            request, queryset,
            lambda u: user_set_mainnet(user_id=u.pk, allowed=False, actor=request.user, ip=ip),
            "mainnet_allowed", "disallowed on mainnet",
        )  # fmt: skip
