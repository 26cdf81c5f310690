"""Operators edit KYC tiers (no deploy) and review customers.

Whatever widens what a customer may do needs two operators (maker-checker): a tier's USD limits
change only through "Change the limits" and a customer's tier through "Move to another tier",
each proposed by one operator and confirmed with the same values by a second; accepting a
customer likewise. Rejecting needs one (the safe direction). Customers are never edited here:
the partner submits fields through the API, and the actions call the services.
"""

import base64
from decimal import Decimal

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from compliance.kyc.models import (
    Customer,
    CustomerDocument,
    CustomerErasure,
    CustomerEvent,
    KycTier,
    KycTierCorridorLimit,
)
from compliance.kyc.services import (
    TIER_LIMIT_FIELDS,
    customer_document_content,
    customer_document_review,
    customer_review,
    customer_tier_change,
    kyc_tier_limits_change,
)
from gateway.common.operator_actions import OperatorActionsMixin, operator_action


class KycTierCorridorLimitInline(admin.TabularInline):
    model = KycTierCorridorLimit
    extra = 0


TIER_PERMISSION = "kyc.change_tier_limits"
LIMIT_LABELS = {"limit_per_transfer_usd": "Per transfer (USD, or none)",
                "limit_per_day_usd": "Per 24 hours (USD, or none)",
                "limit_per_30_days_usd": "Per 30 days (USD, or none)"}


@admin.register(KycTier)
class KycTierAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ("code", "name", "level", "limit_per_transfer_usd", "limit_per_day_usd",
                    "limit_per_30_days_usd")
    readonly_fields = TIER_LIMIT_FIELDS
    inlines = [KycTierCorridorLimitInline]
    actions = ["change_limits"]

    @operator_action(permission=TIER_PERMISSION, audit_fields=list(TIER_LIMIT_FIELDS),
                     maker_checker=True,
                     description="Change the limits (a second operator confirms)",
                     extra_fields=lambda request: [
                         {"name": name, "label": label} for name, label in LIMIT_LABELS.items()])
    def change_limits(self, request, tier, reason):
        tier = kyc_tier_limits_change(
            tier=tier, limits={name: request.POST.get(name, "") for name in TIER_LIMIT_FIELDS},
            operator=request.user.get_username())
        return "limits " + ", ".join(f"{name.removeprefix('limit_').removesuffix('_usd')} "
                                     f"{getattr(tier, name) or 'none'}"
                                     for name in TIER_LIMIT_FIELDS)

    def save_model(self, request, obj, form, change):
        if not change:  # a new tier allows nothing until two operators set its limits
            for name in TIER_LIMIT_FIELDS:
                setattr(obj, name, Decimal("0.00"))
        super().save_model(request, obj, form, change)


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
                 maker_checker=True,
                 description="Accept selected customers (in processing; a second operator "
                             "confirms)")
def accept_customers(modeladmin, request, customer, reason):
    return _review(request, customer, accept=True, reason=reason)


@operator_action(permission="kyc.review_customer", audit_fields=["status", "tier"],
                 description="Reject selected customers (in processing)")
def reject_customers(modeladmin, request, customer, reason):
    return _review(request, customer, accept=False, reason=reason)


@operator_action(permission=TIER_PERMISSION, audit_fields=["status", "tier"],
                 maker_checker=True,
                 description="Move to another tier (a second operator confirms)",
                 extra_fields=lambda request: [{
                     "name": "tier_code", "label": "Tier",
                     "choices": [(code, code) for code in KycTier.objects.order_by(
                         "level").values_list("code", flat=True)]}])
def move_to_tier(modeladmin, request, customer, reason):
    customer = customer_tier_change(customer=customer,
                                    tier_code=request.POST.get("tier_code", ""),
                                    operator=request.user.get_username())
    return f"now in tier {customer.tier.code} ({customer.status})"


@admin.register(Customer)
class CustomerAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ("public_id", "partner", "role", "kind", "tier", "status", "created_at")
    list_filter = ("status", "role", "kind", "tier")
    search_fields = ("public_id", "external_id")
    actions = [accept_customers, reject_customers, move_to_tier]
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


def _review_document(request, document, *, accept: bool, reason: str) -> str:
    customer_document_review(document=document, accept=accept,
                             operator=request.user.get_username(),
                             message="" if accept else reason)
    document.refresh_from_db(fields=["status"])
    return document.status


@operator_action(permission="kyc.review_customer", audit_fields=["status"],
                 description="Accept selected documents (in processing)")
def accept_documents(modeladmin, request, document, reason):
    return _review_document(request, document, accept=True, reason=reason)


@operator_action(permission="kyc.review_customer", audit_fields=["status"],
                 description="Reject selected documents (the reason is shown to the partner)")
def reject_documents(modeladmin, request, document, reason):
    return _review_document(request, document, accept=False, reason=reason)


@admin.register(CustomerDocument)
class CustomerDocumentAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ("public_id", "customer", "kind", "content_type", "size_bytes", "status",
                    "erased_at", "created_at")
    list_filter = ("status", "kind", "content_type")
    search_fields = ("public_id", "customer__public_id")
    actions = [accept_documents, reject_documents]
    exclude = ("content", "digest")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def get_readonly_fields(self, request, obj=None):
        return ("public_id", "customer", "kind", "content_type", "size_bytes", "status",
                "status_message", "reviewed_by", "erased_at", "document")

    @admin.display(description="Document (decrypted for this page only)")
    def document(self, obj: CustomerDocument) -> str:
        content = customer_document_content(document=obj)
        if not content:
            return "erased"
        data = base64.b64encode(content).decode("ascii")
        if obj.content_type.startswith("image/"):
            return format_html('<img src="data:{};base64,{}" style="max-width:40em">',
                               obj.content_type, data)
        return format_html('<a href="data:{};base64,{}" download="{}.pdf">Download</a>',
                           obj.content_type, data, obj.public_id)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CustomerErasure)
class CustomerErasureAdmin(admin.ModelAdmin):
    list_display = ("public_id", "customer", "requested_by", "retained_until", "completed_at",
                    "created_at")
    readonly_fields = ("public_id", "customer", "requested_by", "reason", "erased", "kept",
                       "retained_until", "completed_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
