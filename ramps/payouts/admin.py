"""Operators see rails (without their secrets) and read, never edit, attempts and callbacks."""

from django.contrib import admin

from gateway.common.admin import ReadOnlyAdmin
from ramps.payouts.models import PayoutAttempt, PayoutAttemptEvent, PayoutCallback, Rail


@admin.register(Rail)
class RailAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "country", "currency", "min_amount", "max_amount", "is_active")
    list_filter = ("kind", "country", "is_active")
    search_fields = ("code",)
    # Credentials hold passwords and keys: never rendered in the admin.
    exclude = ("credentials",)
    readonly_fields = ("credential_names", "created_at", "updated_at")

    @admin.display(description="Credentials set")
    def credential_names(self, obj):
        return ", ".join(sorted((obj.credentials or {}).keys())) or "-"


class PayoutAttemptEventInline(admin.TabularInline):
    model = PayoutAttemptEvent
    fields = ("created_at", "from_status", "to_status", "source", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PayoutAttempt)
class PayoutAttemptAdmin(ReadOnlyAdmin):
    list_display = ("reference", "owner_reference", "rail", "amount", "currency", "status",
                    "failure_kind", "created_at")
    list_filter = ("status", "failure_kind", "rail")
    search_fields = ("reference", "owner_reference", "provider_reference", "provider_receipt")
    date_hierarchy = "created_at"
    inlines = [PayoutAttemptEventInline]


@admin.register(PayoutCallback)
class PayoutCallbackAdmin(ReadOnlyAdmin):
    list_display = ("id", "rail", "reference", "attempt", "processing_status", "created_at")
    list_filter = ("processing_status", "rail")
    search_fields = ("reference",)

