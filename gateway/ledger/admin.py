from django.contrib import admin

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

    @admin.display(description="balance (debit +)")
    def balance(self, obj):
        return money_round(account_balance_by_id(account_id=obj.pk), obj.currency)


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["reference", "description", "owner_reference", "created_at"]
    search_fields = ["reference", "owner_reference"]
    inlines = [PostingInline]
