from django.contrib import admin
from django.db.models import Sum

from gateway.ledger.models import JournalEntry, LedgerAccount, Posting


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger rows are append-only: nothing is added, changed or deleted from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["account", "currency", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "currency", "kind", "balance", "must_not_go_negative"]
    list_filter = ["kind", "currency"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_balance=Sum("postings__amount"))

    @admin.display(description="balance (debit +)", ordering="_balance")
    def balance(self, obj):
        return obj._balance or 0


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["reference", "description", "owner_reference", "created_at"]
    search_fields = ["reference", "owner_reference"]
    inlines = [PostingInline]
