"""Operators manage venues and watch conversion orders; credentials never show in lists, and an
order is only changed through the services (the refresh action)."""

from django import forms
from django.contrib import admin

from gateway.common.operator_actions import OperatorActionsMixin, operator_action

from .models import ConversionOrder, Venue
from .services import conversion_order_refresh


class VenueForm(forms.ModelForm):
    """The secret is write-only: the field starts empty, and left empty it keeps the stored one."""

    api_base_url = forms.URLField(
        required=False, assume_scheme="https",
        help_text="Origin that replaces the exchange's own API host (a sandbox); blank = the "
                  "exchange's real URL.",
    )
    api_secret = forms.CharField(
        required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored secret.",
    )

    class Meta:
        model = Venue
        fields = ["name", "exchange_id", "api_base_url", "api_key", "api_secret", "is_active",
                  "taker_fee_rate"]

    def clean_api_secret(self) -> str:
        secret = self.cleaned_data.get("api_secret") or ""
        if not secret and self.instance.pk:
            return self.instance.api_secret
        return secret


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    form = VenueForm
    list_display = ["name", "exchange_id", "api_base_url", "is_active", "taker_fee_rate",
                    "updated_at"]
    list_filter = ["is_active", "exchange_id"]
    search_fields = ["name"]


@admin.register(ConversionOrder)
class ConversionOrderAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["client_order_id", "reference", "venue", "symbol", "side", "amount_base",
                    "status", "filled_base", "filled_quote", "average_price", "created_at"]
    list_filter = ["status", "side", "venue"]
    search_fields = ["client_order_id", "reference", "venue_order_id"]
    date_hierarchy = "created_at"
    actions = ["refresh_from_venue"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @operator_action(permission="liquidity.refresh_order", reason_required=False,
                     audit_fields=["status", "filled_base", "filled_quote"],
                     description="Ask the venue about the selected unknown or open orders")
    def refresh_from_venue(self, request, order, reason) -> str:
        if order.status not in (ConversionOrder.Status.UNKNOWN, ConversionOrder.Status.OPEN):
            return f"already {order.status}: not asked"
        return conversion_order_refresh(order=order).status
