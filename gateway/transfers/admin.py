"""Operators' view of transfers: timeline (as a picture), ledger entries, compliance decision.

Money fields are read-only; an operator acts through actions that call the same services as the
rest of the system (approve or reject a held transfer), never by editing a row.
"""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from gateway.common.problems import DomainError
from gateway.ledger.selectors import entries_for_owner
from gateway.transfers.models import Corridor, Quote, Transfer, TransferEvent
from gateway.transfers.services import operator_decide
from gateway.transfers.states import FINAL_STATES, TransferState

_STATE_COLOURS = {
    TransferState.COMPLETED: "#2e7d32", TransferState.REFUNDED: "#6d4c41",
    TransferState.EXPIRED: "#757575", TransferState.ON_HOLD: "#ef6c00",
    TransferState.REJECTED: "#c62828", TransferState.PAYOUT_FAILED: "#c62828",
}


def timeline_svg(events: list[TransferEvent]) -> str:
    """A horizontal timeline: one dot per state, spaced by elapsed time (log-scaled)."""
    if not events:
        return ""
    import math

    start = events[0].created_at
    offsets = [math.log1p((e.created_at - start).total_seconds()) for e in events]
    span = max(offsets[-1], 1e-9)
    width, left, right = 900, 40, 40
    xs = [left + (width - left - right) * (o / span) for o in offsets]
    # Keep labels from overlapping: at least 70 px between consecutive dots.
    for i in range(1, len(xs)):
        xs[i] = max(xs[i], xs[i - 1] + 70)
    width = int(max(width, xs[-1] + right + 60))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="110" '
             f'role="img" aria-label="transfer timeline" style="font:11px sans-serif">',
             f'<line x1="{left}" y1="40" x2="{xs[-1]}" y2="40" stroke="#90a4ae" stroke-width="2"/>']
    for x, event in zip(xs, events, strict=True):
        colour = _STATE_COLOURS.get(event.to_state, "#1565c0")
        elapsed = (event.created_at - start).total_seconds()
        parts.append(f'<circle cx="{x:.0f}" cy="40" r="7" fill="{colour}"/>')
        parts.append(f'<text x="{x:.0f}" y="22" text-anchor="middle">{event.to_state}</text>')
        parts.append(f'<text x="{x:.0f}" y="62" text-anchor="middle" fill="#555">'
                     f'+{elapsed:.1f}s</text>')
        parts.append(f'<text x="{x:.0f}" y="76" text-anchor="middle" fill="#888">'
                     f'{event.created_at:%H:%M:%S}</text>')
    parts.append("</svg>")
    return "".join(parts)


class TransferEventInline(admin.TabularInline):
    model = TransferEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_state", "to_state", "reason", "actor", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ["public_id", "partner", "state", "sender_status", "amount_in", "amount_out",
                    "currency_out", "state_changed_at", "created_at"]
    list_filter = ["state", "corridor", "partner"]
    search_fields = ["public_id", "external_id", "deposit_address__address"]
    date_hierarchy = "created_at"
    inlines = [TransferEventInline]
    actions = ["approve_held", "reject_held"]
    readonly_fields = ["public_id", "partner", "quote", "corridor", "state", "sender_status",
                       "state_changed_at", "external_id", "amount_in", "amount_in_base_units",
                       "amount_fee", "amount_out", "currency_out", "rate", "deposit_address",
                       "deposit_expires_at", "amount_received_base_units", "compliance_decision",
                       "hold_reason", "timeline", "ledger_entries", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["public_id", "partner", "external_id", "state", "sender_status",
                           "state_changed_at", "hold_reason", "timeline"]}),
        ("Money", {"fields": ["corridor", "quote", "amount_in", "amount_in_base_units",
                              "amount_fee", "rate", "amount_out", "currency_out",
                              "amount_received_base_units"]}),
        ("Deposit", {"fields": ["deposit_address", "deposit_expires_at"]}),
        ("Compliance and ledger", {"fields": ["compliance_decision", "ledger_entries"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Timeline")
    def timeline(self, obj: Transfer) -> str:
        return mark_safe(timeline_svg(list(obj.events.all())))  # noqa: S308 - built from our values

    @admin.display(description="Ledger entries")
    def ledger_entries(self, obj: Transfer) -> str:
        rows = []
        for entry in entries_for_owner(owner_reference=obj.reference):
            postings = format_html_join(
                "", "<tr><td></td><td>{}</td><td style='text-align:right'>{}</td>"
                    "<td style='text-align:right'>{}</td><td>{}</td></tr>",
                ((p.account.code, p.amount if p.amount > 0 else "",
                  -p.amount if p.amount < 0 else "", p.currency) for p in entry.postings.all()),
            )
            rows.append(format_html("<tr><th colspan=5>{} — {}</th></tr>{}", entry.reference,
                                    entry.created_at.strftime("%Y-%m-%d %H:%M:%S"), postings))
        if not rows:
            return "—"
        header = mark_safe("<tr><th></th><th>account</th><th>debit</th><th>credit</th>"
                           "<th>currency</th></tr>")
        return format_html("<table>{}{}</table>", header, mark_safe("".join(rows)))  # noqa: S308

    def _decide(self, request, queryset, approve: bool) -> None:
        for transfer in queryset:
            if transfer.state in FINAL_STATES:
                continue
            try:
                operator_decide(transfer_id=transfer.pk, approve=approve,
                                operator=request.user.get_username(),
                                note=f"{'approved' if approve else 'rejected'} in admin")
                self.message_user(request, f"{transfer.public_id}: "
                                  f"{'approved' if approve else 'rejected'}.")
            except DomainError as exc:
                self.message_user(request, f"{transfer.public_id}: {exc.detail}", messages.ERROR)

    @admin.action(description="Approve selected held transfers")
    def approve_held(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected held transfers")
    def reject_held(self, request, queryset):
        self._decide(request, queryset, approve=False)


@admin.register(Corridor)
class CorridorAdmin(admin.ModelAdmin):
    list_display = ["code", "token", "currency_out", "rail", "venue", "fee_fixed", "fee_rate",
                    "margin_rate", "is_active"]


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ["public_id", "partner", "amount_in", "sell_asset", "amount_out",
                    "currency_out", "rate", "expires_at", "used_at"]
    readonly_fields = [f.name for f in Quote._meta.fields]

    def has_add_permission(self, request):
        return False
