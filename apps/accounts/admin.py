from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apps.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "role", "is_verified", "mainnet_allowed", "is_active"]
    list_filter = ["is_staff", "is_active", "mainnet_allowed"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["date_joined", "last_login", "email_verified_at", "attested_at"]
    fieldsets = [
        (None, {"fields": ["email", "password", "display_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "mainnet_allowed"]}),
        ("History", {"fields": ["date_joined", "last_login", "email_verified_at", "attested_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]

    @admin.display(boolean=True, description="verified")
    def is_verified(self, obj):
        return obj.is_verified
