"""Treasury admin: reconciliation runs with their lines and a small chart of differences over
time, incidents, reservations, limits and policies."""

from decimal import Decimal

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from gateway.common.admin import ReadOnlyAdmin
from gateway.common.money import money_round
from gateway.common.operator_actions import OperatorActionsMixin, operator_action

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
from .services import (
    treasury_float_available,
    treasury_rail_float_adjust,
    treasury_venue_transfer,
)


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


def _movement_fields(request: HttpRequest) -> list[dict]:
    """What a treasury movement asks besides the reason: amount, direction and the business
    reference on the bank's or venue's statement (the ledger entry is unique under it)."""
    return [{"name": "amount", "label": "Amount (in the policy's currency, e.g. 250000.00)"},
            {"name": "direction",
             "label": 'Direction: "in" or "out" for a rail float, "to_venue" or "from_venue" '
                      "for a venue transfer"},
            {"name": "reference", "label": "Reference on the statement"}]


def _posted(request: HttpRequest, name: str) -> str:
    return (request.POST.get(name) or "").strip()


@admin.register(FloatPolicy)
class FloatPolicyAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["rail_code", "currency", "refill_threshold", "refill_target", "venue",
                    "free_float"]
    actions = ["adjust_rail_float", "record_venue_transfer"]

    @operator_action(permission="treasury.adjust_rail_float", maker_checker=True,
                     extra_fields=_movement_fields,
                     description="Adjust the rail's float: money put on it or taken back",
                     subject=lambda policy: f"rail:{policy.rail_code}")
    def adjust_rail_float(self, request, policy, reason):
        before = treasury_float_available(rail_code=policy.rail_code, currency=policy.currency)
        entry = treasury_rail_float_adjust(policy=policy, amount=_posted(request, "amount"),
                                           direction=_posted(request, "direction"),
                                           reference=_posted(request, "reference"))
        after = treasury_float_available(rail_code=policy.rail_code, currency=policy.currency)
        return (f"free float {money_round(before, policy.currency)} -> "
                f"{money_round(after, policy.currency)} {policy.currency} ({entry})")

    @operator_action(permission="treasury.record_venue_transfer", maker_checker=True,
                     extra_fields=_movement_fields,
                     description="Record a transfer between the bank and the policy's venue",
                     subject=lambda policy: f"venue-of:{policy.rail_code}")
    def record_venue_transfer(self, request, policy, reason):
        entry = treasury_venue_transfer(policy=policy, amount=_posted(request, "amount"),
                                        direction=_posted(request, "direction"),
                                        reference=_posted(request, "reference"))
        return f"recorded ({entry})"

    @admin.display(description="Free float")
    def free_float(self, policy: FloatPolicy) -> str:
        available = treasury_float_available(rail_code=policy.rail_code,
                                             currency=policy.currency)
        return f"{available} {policy.currency}"
