"""Operators see rails (without their secrets) and read, never edit, attempts and callbacks."""

from django.contrib import admin, messages

from gateway.common.admin import ReadOnlyAdmin
from ramps.payouts.models import PayoutAttempt, PayoutAttemptEvent, PayoutCallback, Rail
from ramps.payouts.selectors import rail_callback_secrets_summary


def callback_secrets_message(request) -> None:
    """Tell the operator whether every rail's callback secret is in place (health pages)."""
    ok, text = rail_callback_secrets_summary()
    (messages.info if ok else messages.error)(request, text)


@admin.register(Rail)
class RailAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "country", "currency", "min_amount", "max_amount", "is_active",
                    "callback_secret_state")
    list_filter = ("kind", "country", "is_active")
    search_fields = ("code",)
    # Credentials hold passwords and keys: never rendered in the admin (nor is the callback
    # secret; manage.py rail_callback_secret_rotate changes it).
    exclude = ("credentials",)
    readonly_fields = ("credential_names", "callback_secret_state", "created_at", "updated_at")

    def changelist_view(self, request, extra_context=None):
        callback_secrets_message(request)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Callback secret")
    def callback_secret_state(self, obj):
        if not obj.callback_secret:
            return "not yet (made with the first payout)"
        rotated = obj.callback_secret_rotated_at
        return f"set {rotated:%Y-%m-%d %H:%M} UTC" if rotated else "set"

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

