"""Operators edit KYC tiers and their limits (no deploy) and review customers.

Customers are never edited here: the partner submits fields through the API, and the review
actions call ``customer_review``.
"""

from django.contrib import admin
from django.utils.html import format_html_join

from compliance.kyc.models import Customer, CustomerEvent, KycTier, KycTierCorridorLimit
from compliance.kyc.services import customer_review
from gateway.common.operator_actions import OperatorActionsMixin, operator_action


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


def _review(request, customer, *, accept: bool, reason: str) -> str:
    customer_review(customer=customer, accept=accept, operator=request.user.get_username(),
                    message="" if accept else "Rejected after compliance review.")
    customer.refresh_from_db()
    return customer.status


@operator_action(permission="kyc.review_customer", audit_fields=["status", "tier"],
                 description="Accept selected customers (in processing)")
def accept_customers(modeladmin, request, customer, reason):
    return _review(request, customer, accept=True, reason=reason)


@operator_action(permission="kyc.review_customer", audit_fields=["status", "tier"],
                 description="Reject selected customers (in processing)")
def reject_customers(modeladmin, request, customer, reason):
    return _review(request, customer, accept=False, reason=reason)


@admin.register(Customer)
class CustomerAdmin(OperatorActionsMixin, admin.ModelAdmin):
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
