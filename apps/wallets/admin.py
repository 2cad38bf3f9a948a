"""Wallets and data keys in the operator console: read-mostly, and no secret field anywhere.

Ciphertexts are excluded from every form and list (they are not plaintext, but an operator has
no use for them and a copy of one is a step towards misuse). Wallets cannot be added here: keys
only enter through the services, which encrypt and audit them. Deleting is off too, because it
would skip the in-use check and the audit row; users delete their own wallets."""

from django.contrib import admin

from apps.wallets.models import UserKey, Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["address", "owner", "kind", "label", "active", "verified_at", "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["address", "label", "owner__email"]
    list_select_related = ["owner"]
    fields = ["owner", "address", "kind", "label", "active", "verified_at", "run", "created_at"]
    readonly_fields = ["owner", "address", "kind", "verified_at", "run", "created_at"]
    exclude = ["encrypted_secret"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UserKey)
class UserKeyAdmin(admin.ModelAdmin):
    list_display = ["owner", "kek_fingerprint", "version", "created_at", "rotated_at"]
    search_fields = ["owner__email", "kek_fingerprint"]
    list_select_related = ["owner"]
    fields = ["owner", "kek_fingerprint", "version", "created_at", "rotated_at"]
    readonly_fields = fields
    exclude = ["wrapped_dek"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
