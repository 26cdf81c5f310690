"""Corridors (with partner pricing) and quotes in the admin.

The transfer's own admin is the console's (gateway.console.transfer_admin): it shows the
console's transfer page and decides held transfers through the console, and is registered there.
"""

from django.contrib import admin

from gateway.transfers.models import Corridor, PartnerPricing, Quote


class PartnerPricingInline(admin.TabularInline):
    model = PartnerPricing
    extra = 0
    fields = ["partner", "fee_fixed", "fee_rate", "margin_rate"]


@admin.register(Corridor)
class CorridorAdmin(admin.ModelAdmin):
    inlines = [PartnerPricingInline]
    list_display = ["code", "token", "currency_out", "rail", "venue", "fee_fixed", "fee_rate",
                    "margin_rate", "is_active"]


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ["public_id", "partner", "amount_in", "sell_asset", "amount_out",
                    "currency_out", "rate", "expires_at", "used_at"]
    readonly_fields = [f.name for f in Quote._meta.fields]

    def has_add_permission(self, request):
        return False
