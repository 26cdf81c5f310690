from decimal import Decimal

from django.contrib import admin
from django.db import connection
from django.db.models import Sum

from gateway.common.admin import ReadOnlyAdmin
from gateway.common.money import money_round
from gateway.ledger.models import JournalEntry, LedgerAccount, Posting
from gateway.ledger.selectors import account_balance_by_id


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
        queryset = super().get_queryset(request)
        if connection.vendor == "postgresql":
            # One aggregate for the whole page instead of one query per account (exact NUMERIC).
            queryset = queryset.annotate(_balance=Sum("postings__amount"))
        return queryset

    @admin.display(description="balance (debit +)")
    def balance(self, obj):
        if hasattr(obj, "_balance"):
            total = obj._balance if obj._balance is not None else Decimal(0)
        else:  # SQLite (demo): summed exactly in Python
            total = account_balance_by_id(account_id=obj.pk)
        return money_round(total, obj.currency)


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["reference", "description", "owner_reference", "created_at"]
    search_fields = ["reference", "owner_reference"]
    inlines = [PostingInline]
