"""Operators edit KYC tiers and their limits (no deploy) and review customers.

Customers are never edited here: the partner submits fields through the API, and the review
actions call ``customer_review``.
"""

from django.contrib import admin, messages
from django.utils.html import format_html_join

from compliance.kyc.models import Customer, CustomerEvent, KycTier, KycTierCorridorLimit
from compliance.kyc.services import customer_review
from gateway.common.problems import DomainError


class KycTierCorridorLimitInline(admin.TabularInline):
    model = KycTierCorridorLimit
    extra = 0


@admin.register(KycTier)
class KycTierAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "level", "limit_per_transfer_usd", "limit_per_day_usd",
                    "limit_per_30_days_usd")
    inlines = [KycTierCorridorLimitInline]


class CustomerEventInline(admin.TabularInline):
    model = CustomerEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "changed_fields", "actor", "note")

    def has_add_permission(self, request, obj=None):
        return False


def _review(modeladmin, request, queryset, *, accept: bool):
    for customer in queryset:
        try:
            customer_review(customer=customer, accept=accept, operator=request.user.get_username(),
                            message="" if accept else "Rejected after compliance review.")
        except DomainError as exc:
            modeladmin.message_user(request, f"{customer.public_id}: {exc.detail}",
                                    messages.ERROR)
        else:
            modeladmin.message_user(request, f"{customer.public_id}: {customer.status}.")


@admin.action(description="Accept selected customers (in processing)")
def accept_customers(modeladmin, request, queryset):
    _review(modeladmin, request, queryset, accept=True)


@admin.action(description="Reject selected customers (in processing)")
def reject_customers(modeladmin, request, queryset):
    _review(modeladmin, request, queryset, accept=False)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("public_id", "partner", "role", "kind", "tier", "status", "created_at")
    list_filter = ("status", "role", "kind", "tier")
    search_fields = ("public_id", "external_id")
    actions = [accept_customers, reject_customers]
    inlines = [CustomerEventInline]
    exclude = ("fields", "name_index", "name_birth_date_index", "id_number_index", "phone_index")
    readonly_fields = ("personal_data",)

    @admin.display(description="Personal data (decrypted for this page only)")
    def personal_data(self, obj: Customer) -> str:
        return format_html_join("", "<div><b>{}</b>: {}</div>", sorted(obj.fields.items()))

    def get_readonly_fields(self, request, obj=None):
        return ("public_id", "partner", "external_id", "role", "kind", "tier", "status",
                "status_message", "reviewed_by", "personal_data")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
