from django.contrib import admin

from compliance.models import SanctionsList, ScreeningDecision


@admin.register(SanctionsList)
class SanctionsListAdmin(admin.ModelAdmin):
    list_display = ["source", "version", "published", "name_count", "address_count",
                    "is_active", "created_at"]
    readonly_fields = [f.name for f in SanctionsList._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ScreeningDecision)
class ScreeningDecisionAdmin(admin.ModelAdmin):
    list_display = ["public_id", "subject_reference", "outcome", "rules_version", "decided_by",
                    "created_at"]
    list_filter = ["outcome", "rules_version"]
    search_fields = ["subject_reference"]
    readonly_fields = [f.name for f in ScreeningDecision._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
