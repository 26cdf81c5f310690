"""The audit log in the admin (searchable, filterable, exportable as CSV, never editable),
and the transfer's admin (gateway.console.transfer_admin), registered here."""

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path

from gateway.common.audit import audit_record
from gateway.console.models import AuditEvent, PendingApproval
from gateway.console.transfer_admin import TransferAdmin
from gateway.transfers.models import Transfer

CSV_COLUMNS = ["created_at", "actor_username", "action", "outcome", "object_type", "object_id",
               "object_repr", "subject_reference", "reason", "detail", "ip_address", "before",
               "after"]


class _Echo:
    def write(self, value):
        return value


def _csv_cell(value) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_username", "action", "outcome", "object_repr",
                    "subject_reference", "short_reason", "ip_address"]
    list_filter = ["outcome", "action", "object_type"]
    search_fields = ["actor_username", "action", "object_repr", "object_id", "subject_reference",
                     "reason", "=ip_address"]
    date_hierarchy = "created_at"
    list_per_page = 100
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    change_list_template = "admin/console/auditevent_change_list.html"

    @admin.display(description="reason")
    def short_reason(self, obj: AuditEvent) -> str:
        return obj.reason[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [path("export.csv", self.admin_site.admin_view(self.export_view),
                     name="console_auditevent_export"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "can_export": request.user.has_perm("console.export_auditevent"),
                         "export_query": request.GET.urlencode()}
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        """The rows of the current search and filters, as CSV (the export is itself audited)."""
        if not (self.has_view_permission(request)
                and request.user.has_perm("console.export_auditevent")):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request).order_by("created_at", "id")
        audit_record(request=request, action="console.export_auditevent",
                     detail=f"filters: {request.GET.urlencode() or 'none'}")
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for event in queryset.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(getattr(event, column))
                                       for column in CSV_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response


@admin.register(PendingApproval)
class PendingApprovalAdmin(admin.ModelAdmin):
    """Requests waiting for a second operator; confirmed by running the same action again."""

    list_display = ["created_at", "action", "object_repr", "params", "maker", "status",
                    "checker", "decided_at"]
    list_filter = ["status", "action"]
    search_fields = ["object_repr", "object_id", "maker__username", "reason"]
    readonly_fields = [field.name for field in PendingApproval._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The transfer's admin lives with the console's transfer page it shows.
admin.site.register(Transfer, TransferAdmin)
