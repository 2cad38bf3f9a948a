from django.contrib import admin

from apps.tokens.models import MintRule, Pool, PoolSelection, Token, TokenLink


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "mint", "network", "program", "decimals", "created_at"]
    list_filter = ["network", "program"]
    search_fields = ["mint", "symbol", "name"]
    readonly_fields = [f.name for f in Token._meta.fields]


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["address", "dex", "token", "network", "fetched_at"]
    list_filter = ["network", "dex"]
    search_fields = ["address", "token__mint", "token__symbol"]
    readonly_fields = [f.name for f in Pool._meta.fields]


@admin.register(TokenLink)
class TokenLinkAdmin(admin.ModelAdmin):
    """Which users registered which token (users add and remove their own)."""

    list_display = ["token", "owner", "created_at"]
    search_fields = ["owner__email", "token__mint", "token__symbol"]
    list_select_related = ["owner", "token"]
    readonly_fields = ["owner", "token", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(PoolSelection)
class PoolSelectionAdmin(admin.ModelAdmin):
    list_display = ["pool", "owner", "created_at"]
    search_fields = ["owner__email", "pool__address"]
    readonly_fields = ["owner", "pool", "created_at"]


@admin.register(MintRule)
class MintRuleAdmin(admin.ModelAdmin):
    """The allow and deny lists. Deny wins; an empty allow list allows every mint."""

    list_display = ["mint", "kind", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["mint", "reason"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
