"""Read-only views of the run engine's rows (re-drive of dead jobs comes with the engine).

These tables hold every trade the platform ever made (millions of rows), so their changelists
never count or scan a whole table: newest first by primary key (an index), pages counted only
as far as the next one (`NoCountPaginator`), no "show all", no date hierarchy (its year and
month links come from a DISTINCT over every row: a date filter instead), and search by exact
signature or address (unique or indexed) rather than a substring no index can serve. Filters
list fixed choices only (a filter on a free column lists its values with a DISTINCT scan)."""

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.db.models import Q

from apps.core.pagination import NoCountPaginator
from apps.execution.models import Execution, Job, LedgerEntry
from apps.wallets.models import Wallet


class ReadOnlyAdmin(admin.ModelAdmin):
    ordering = ["-id"]
    paginator = NoCountPaginator
    show_full_result_count = False
    list_max_show_all = 0

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            page = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            page = 1  # the changelist reads a bad page number as the first page too
        return self.paginator(queryset, per_page, page=page, orphans=orphans,
                              allow_empty_first_page=allow_empty_first_page)  # fmt: skip

    def search(self, term: str) -> Q:
        """The rows the search box finds for `term`, by indexed columns only."""
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        # Django ORs `search_fields` across joins (`wallet.address = x OR signature = x`),
        # which no index serves; `search` names the same matches by ids looked up first, so
        # the list is a bitmap OR of this table's own indexes. `search_fields` stay for the
        # search box and its help.
        term = search_term.strip()
        return (queryset.filter(self.search(term)) if term else queryset), False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _wallets(address: str) -> list[int]:
    return list(Wallet.objects.filter(address=address).values_list("pk", flat=True))


def _executions(signature: str) -> list[int]:
    return list(Execution.objects.filter(signature=signature).values_list("pk", flat=True))


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "run", "type", "queue", "status", "attempts", "scheduled_for", "updated_at",
    ]  # fmt: skip
    # Not by queue: its choices would come from a DISTINCT over every job (the type says it).
    list_filter = ["status", "type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=idempotency_key"]
    list_select_related = ["run"]

    def search(self, term: str) -> Q:
        return Q(idempotency_key=term)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "run", "side", "status", "signature", "wallet", "fee_lamports",
        "tip_lamports", "sol_in_lamports", "sol_out_lamports", "latency_ms",
    ]  # fmt: skip
    list_filter = ["status", "side", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=signature", "=wallet__address"]
    list_select_related = ["run", "wallet"]

    def search(self, term: str) -> Q:
        return Q(pk__in=_executions(term)) | Q(wallet__in=_wallets(term))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "run", "wallet", "kind", "lamports_delta", "mint", "token_delta_raw",
        "execution",
    ]  # fmt: skip
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=wallet__address", "=execution__signature"]
    list_select_related = ["run", "wallet", "execution"]

    def search(self, term: str) -> Q:
        return Q(wallet__in=_wallets(term)) | Q(execution__in=_executions(term))
