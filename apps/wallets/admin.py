"""Wallets and data keys in the operator console: read-mostly, and no secret field anywhere.

Ciphertexts are excluded from every form and list (they are not plaintext, but an operator has
no use for them and a copy of one is a step towards misuse). Wallets cannot be added here: keys
only enter through the services, which encrypt and audit them. Deleting is off too, because it
would skip the in-use check and the audit row; users delete their own wallets."""

from django.contrib import admin, messages

from apps.accounts.stepup import code_confirmed
from apps.core.services import client_ip
from apps.wallets.keystore import KeystoreError
from apps.wallets.models import UserKey, Wallet
from apps.wallets.services import user_keys_rewrap_current


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
    actions = ["rewrap_current"]

    @admin.action(
        description="Re-wrap selected data keys under the current master key (asks for a "
        "two-factor code)"
    )
    def rewrap_current(self, request, queryset):
        page = code_confirmed(
            self, request, queryset, action="wallet.kek_rotate", title="Re-wrap data keys"
        )
        if page is not None:
            return page
        try:
            outcomes = user_keys_rewrap_current(
                user_key_ids=list(queryset.values_list("pk", flat=True)),
                actor=request.user,
                ip=client_ip(request),
            )
        except KeystoreError as error:
            self.message_user(request, f"Stopped: {error}", messages.ERROR)
            return None
        level = messages.WARNING if outcomes["unknown"] else messages.SUCCESS
        self.message_user(
            request,
            f"{outcomes['rewrapped']} re-wrapped, {outcomes['skipped']} already current, "
            f"{outcomes['unknown']} wrapped by a master key this process does not hold.",
            level,
        )
        return None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
