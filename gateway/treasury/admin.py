"""Treasury admin: reconciliation runs with their lines and a small chart of differences over
time, incidents, reservations, limits and policies."""

from decimal import Decimal

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from gateway.common.admin import ReadOnlyAdmin

from .models import (
    ExposureLimit,
    FloatPolicy,
    FloatReservation,
    Incident,
    ReconciliationLine,
    ReconciliationRun,
    RefillProposal,
)
from .selectors import reconciliation_runs_recent


class ReconciliationLineInline(admin.TabularInline):
    model = ReconciliationLine
    extra = 0
    can_delete = False
    readonly_fields = ["source", "account_code", "currency", "ledger_balance",
                       "external_balance", "difference"]

    def has_add_permission(self, request, obj=None):
        return False


def _chart() -> str:
    """An inline SVG bar per recent run: height = number of accounts that differed."""
    runs = list(reversed(reconciliation_runs_recent(limit=30)))
    if not runs:
        return ""
    counts = [sum(1 for line in run.lines.all() if line.difference != Decimal(0))
              for run in runs]
    top = max([*counts, 1])
    bars = format_html_join(
        "", '<rect x="{}" y="{}" width="8" height="{}" fill="{}"><title>run {}: {}</title>'
            "</rect>",
        ((index * 10, 40 - 36 * count // top, max(36 * count // top, 1),
          "#c0392b" if count else "#27ae60", run.pk, count)
         for index, (run, count) in enumerate(zip(runs, counts, strict=True))))
    return format_html('<svg width="{}" height="42" role="img" aria-label="differences per '
                       'run">{}</svg>', len(runs) * 10, bars)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "status", "total_abs_difference", "errors"]
    list_filter = ["status"]
    inlines = [ReconciliationLineInline]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": format_html(
            "Reconciliation runs {}", _chart())}
        return super().changelist_view(request, extra_context)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "created_at"]
    list_filter = ["status", "kind"]
    readonly_fields = ["kind", "title", "run", "details", "created_at"]


@admin.register(FloatReservation)
class FloatReservationAdmin(ReadOnlyAdmin):
    list_display = ["transfer_reference", "rail_code", "amount", "currency", "status",
                    "created_at"]
    list_filter = ["status", "rail_code"]
    search_fields = ["transfer_reference"]


@admin.register(RefillProposal)
class RefillProposalAdmin(ReadOnlyAdmin):
    list_display = ["policy", "free_float", "amount_quote", "amount_base", "status", "created_at"]


admin.site.register(ExposureLimit)
admin.site.register(FloatPolicy)
