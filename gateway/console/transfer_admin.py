"""Operators' view of transfers, on the console: timeline (as a picture), ledger entries,
compliance decision and the console's transfer page (gateway.console.transfer_page).

Money fields are read-only; an operator acts through actions that call the same services as the
rest of the system (approve or reject a held transfer), never by editing a row. Registered by
gateway.console.admin, so that gateway.transfers needs nothing from the console.
"""

from django.contrib import admin
from django.db.models import Q
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from gateway.common.operator_actions import OperatorActionsMixin, operator_action
from gateway.common.problems import DomainError
from gateway.console.decisions import held_transfer_decide
from gateway.console.transfer_page import TransferPageMixin
from gateway.ledger.selectors import entries_for_owner
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.services.actions import (
    transfer_funding_lost,
    transfer_held_refund,
    transfer_payout_refund,
    transfer_payout_settle,
    transfer_reorg_clear,
    transfer_underpaid_accept,
    transfer_underpaid_refund,
)
from gateway.transfers.services.conversion import transfer_release_hold
from gateway.transfers.services.party_search import name_search_key, phone_search_key
from gateway.transfers.services.payouts import transfer_payout_retry
from gateway.transfers.states import TransferState
from ramps.payouts.selectors import rails_active

TRANSFER_AUDIT_FIELDS = ["state", "hold_reason", "compliance_decision"]

_STATE_COLOURS = {
    TransferState.COMPLETED: "#2e7d32", TransferState.REFUNDED: "#6d4c41",
    TransferState.EXPIRED: "#757575", TransferState.ON_HOLD: "#ef6c00",
    TransferState.REJECTED: "#c62828", TransferState.PAYOUT_FAILED: "#c62828",
    TransferState.PAYOUT_REVIEW: "#ef6c00",
}


def timeline_svg(events: list[TransferEvent]) -> str:
    """A horizontal timeline: one dot per state in order, the time spent between states written
    on the segment that joins them; scrolls sideways when it is wider than the page."""
    if not events:
        return ""
    step, left, top = 120, 60, 44
    width = left * 2 + step * (len(events) - 1)
    parts = [f'<div style="overflow-x:auto"><svg xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="100" viewBox="0 0 {width} 100" '
             f'style="font:11px sans-serif" role="img" aria-label="transfer timeline">',
             f'<line x1="{left}" y1="{top}" x2="{left + step * (len(events) - 1)}" y2="{top}" '
             f'stroke="#90a4ae" stroke-width="2"/>']
    for index, event in enumerate(events):
        x = left + step * index
        colour = _STATE_COLOURS.get(event.to_state, "#1565c0")
        parts.append(f'<circle cx="{x}" cy="{top}" r="7" fill="{colour}"><title>'
                     f'{escape(event.reason)}</title></circle>')
        parts.append(f'<text x="{x}" y="{top - 16}" text-anchor="middle">'
                     f'{escape(event.to_state)}</text>')
        parts.append(f'<text x="{x}" y="{top + 24}" text-anchor="middle" fill="#666">'
                     f'{event.created_at:%H:%M:%S}</text>')
        if index:
            gap = (event.created_at - events[index - 1].created_at).total_seconds()
            parts.append(f'<text x="{x - step / 2:.0f}" y="{top + 44}" text-anchor="middle" '
                         f'fill="#999">+{gap:.1f}s</text>')
    parts.append("</svg></div>")
    return "".join(parts)


class TransferEventInline(admin.TabularInline):
    model = TransferEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_state_code", "to_state_code", "reason", "actor", "data"]
    readonly_fields = fields

    @admin.display(description="from")
    def from_state_code(self, obj: TransferEvent) -> str:
        return obj.from_state or "-"

    @admin.display(description="to")
    def to_state_code(self, obj: TransferEvent) -> str:
        return obj.to_state

    def has_add_permission(self, request, obj=None):
        return False


class TransferAdmin(TransferPageMixin, OperatorActionsMixin, admin.ModelAdmin):
    list_display = TransferPageMixin.list_columns
    list_filter = ["state", "corridor", "partner"]
    search_fields = ["public_id", "external_id", "deposit_address__address"]
    search_help_text = ("Id, your reference, deposit address, or exactly a recipient's phone "
                        "number (+254708374149) or a sender's or recipient's full name")
    date_hierarchy = "created_at"
    inlines = [TransferEventInline]
    actions = ["approve_held", "reject_held", "release_held", "retry_payout", "reroute_payout",
               "refund_failed_payout", "refund_held", "refund_underpaid", "accept_underpaid",
               "clear_reorg_hold", "cancel_unfunded", "settle_payout_paid",
               "settle_payout_not_paid", "resend_failed_webhooks"]
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

    @operator_action(permission="webhooks.resend_delivery", audit_fields=["state"],
                     description="Resend the failed webhooks")
    def resend_failed_webhooks(self, request, transfer, reason):
        from gateway.webhooks.models import WebhookDelivery
        from gateway.webhooks.services import webhook_delivery_redeliver

        failed = list(WebhookDelivery.objects.filter(
            transfer_id=transfer.pk, status=WebhookDelivery.Status.FAILED).order_by("pk"))
        if not failed:
            raise DomainError("No webhook of this transfer has failed.", slug="nothing-failed",
                              status=409)
        for delivery in failed:
            webhook_delivery_redeliver(delivery=delivery)
        return f"{len(failed)} failed webhook deliveries resent"

    def get_search_results(self, request, queryset, search_term):
        """Besides the plain columns: the parties through their blind indexes (exact match of
        the normalised phone number or name; the parties themselves stay encrypted)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = (search_term or "").strip()
        if not term:
            return found, may_have_duplicates
        phone, name = phone_search_key(term), name_search_key(term)
        parties = Q(sender_name_index=name) | Q(recipient_name_index=name) if name else Q(pk=None)
        if phone:
            parties |= Q(recipient_phone_index=phone)
        return found | queryset.filter(parties), may_have_duplicates

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Everything on the page is read-only: no save buttons.
        extra_context = {**(extra_context or {}), "show_save": False,
                         "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context)

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

    # Operator actions: each checks its own permission, asks a reason and is audited
    # (gateway.common.operator_actions). Approve and reject go through the compliance case.
    @operator_action(permission="transfers.approve_hold", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Approve held transfers (propose, or confirm another's proposal)")
    def approve_held(self, request, transfer, reason):
        return held_transfer_decide(transfer_id=transfer.pk, operator=request.user,
                                    outcome="approve", note=reason)

    @operator_action(permission="transfers.reject_hold", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Reject held transfers (propose, or confirm another's proposal)")
    def reject_held(self, request, transfer, reason):
        return held_transfer_decide(transfer_id=transfer.pk, operator=request.user,
                                    outcome="reject", note=reason)

    @operator_action(permission="transfers.release_hold", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Release transfers held for float or conversion")
    def release_held(self, request, transfer, reason):
        transfer_release_hold(transfer_id=transfer.pk, operator=request.user.get_username(),
                              note=reason)
        return "released"


    # The ways out of a failed payout, an underpayment and a deep reorg
    # (gateway.transfers.states.ACTIONS lists them; the services check the state themselves).
    @operator_action(permission="transfers.retry_payout", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Retry failed payouts on the same rail")
    def retry_payout(self, request, transfer, reason):
        transfer_payout_retry(transfer_id=transfer.pk, operator=request.user.get_username(),
                              note=reason)
        return "payout sent again"

    @operator_action(permission="transfers.reroute_payout", audit_fields=TRANSFER_AUDIT_FIELDS,
                     maker_checker=True, description="Reroute failed payouts to another rail",
                     extra_fields=lambda request: [{
                         "name": "rail_code", "label": "Rail",
                         "choices": [(rail.code, rail.code) for rail in rails_active()]}])
    def reroute_payout(self, request, transfer, reason):
        rail_code = (request.POST.get("rail_code") or "").strip()
        if not rail_code:
            raise DomainError("Choose the rail to pay on.", slug="rail-required", status=422)
        transfer_payout_retry(transfer_id=transfer.pk, operator=request.user.get_username(),
                              note=reason, rail_code=rail_code)
        return f"payout rerouted to {rail_code}"

    @operator_action(permission="transfers.refund_transfer", audit_fields=TRANSFER_AUDIT_FIELDS,
                     maker_checker=True, description="Refund transfers whose payout failed")
    def refund_failed_payout(self, request, transfer, reason):
        transfer_payout_refund(transfer_id=transfer.pk,
                               actor=f"operator:{request.user.get_username()}", note=reason)
        return "refund recorded"

    @operator_action(permission="transfers.refund_transfer", audit_fields=TRANSFER_AUDIT_FIELDS,
                     maker_checker=True,
                     description="Refund transfers whose conversion the venue refused "
                                 "(nothing sold)")
    def refund_held(self, request, transfer, reason):
        transfer_held_refund(transfer_id=transfer.pk, operator=request.user.get_username(),
                             note=reason)
        return "refund recorded"

    @operator_action(permission="transfers.refund_transfer", audit_fields=TRANSFER_AUDIT_FIELDS,
                     maker_checker=True, description="Refund what underpaid transfers received")
    def refund_underpaid(self, request, transfer, reason):
        transfer_underpaid_refund(transfer_id=transfer.pk,
                                  operator=request.user.get_username(), note=reason)
        return "refund recorded"

    @operator_action(permission="transfers.release_hold", audit_fields=TRANSFER_AUDIT_FIELDS,
                     maker_checker=True,
                     description="Accept underpaid transfers at a new quote for what arrived")
    def accept_underpaid(self, request, transfer, reason):
        accepted = transfer_underpaid_accept(transfer_id=transfer.pk,
                                             operator=request.user.get_username(), note=reason)
        return f"accepted: pays {accepted.amount_out} {accepted.currency_out}"

    @operator_action(permission="transfers.release_hold", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Clear deep-reorg holds whose deposits are final again")
    def clear_reorg_hold(self, request, transfer, reason):
        transfer_reorg_clear(transfer_id=transfer.pk, operator=request.user.get_username(),
                             note=reason)
        return "reorg hold cleared"

    @operator_action(permission="transfers.refund_transfer", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Cancel transfers whose funding left the chain")
    def cancel_unfunded(self, request, transfer, reason):
        transfer_funding_lost(transfer_id=transfer.pk, operator=request.user.get_username(),
                              note=reason)
        return "cancelled: funding left the chain"


    @operator_action(permission="transfers.retry_payout", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Settle pending payouts as PAID (the provider confirmed it)")
    def settle_payout_paid(self, request, transfer, reason):
        transfer_payout_settle(transfer_id=transfer.pk, operator=request.user.get_username(),
                               paid=True, note=reason)
        return "payout settled as paid"

    @operator_action(permission="transfers.retry_payout", audit_fields=TRANSFER_AUDIT_FIELDS,
                     description="Settle pending payouts as NOT PAID (the provider confirmed it)")
    def settle_payout_not_paid(self, request, transfer, reason):
        transfer_payout_settle(transfer_id=transfer.pk, operator=request.user.get_username(),
                               paid=False, note=reason)
        return "payout settled as not paid"
