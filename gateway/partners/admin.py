from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from gateway.partners.models import Partner, PartnerAPIKey


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "is_active", "api_requests_per_minute", "created_at"]
    search_fields = ["name"]


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "partner"]
    list_filter = ["partner"]
