"""What the transfer page shows an operator beyond the transfer's own fields: the compliance
case and decision, every payout attempt with its provider result, the redemption code's state,
the webhooks sent, the parties (decrypted only for roles allowed to see them) and the transfer's
part of the audit log."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from gateway.console.models import AuditEvent

OPERATOR_FIELDS = ["case_and_decision", "payout_attempts", "redemption_state", "webhooks_sent",
                   "audit_trail"]


def _local(moment) -> str:
    """A stored (UTC) time in the operator's zone, with the zone's abbreviation."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def _table(headers: list[str], rows) -> str:
    head = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in headers))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows))
    return format_html("<table class='console-table'><thead><tr>{}</tr></thead><tbody>{}"
                       "</tbody></table>", head, body)


class TransferPageMixin:
    """Mixed into the transfer's ModelAdmin: read-only sections for the change page."""

    # The list, readable at 1440 px: short id, corridor, short state, hold reason, money
    # formatted per currency, age.
    list_columns = ["short_id", "corridor", "state_label", "hold", "amount_sent",
                    "amount_paid", "age", "partner"]

    list_select_related = ["corridor", "partner", "quote"]

    def get_queryset(self, request):
        # The parties are encrypted: decrypted only on the page that shows them, not per row.
        return super().get_queryset(request).defer("sender", "recipient")

    @admin.display(description="transfer", ordering="public_id")
    def short_id(self, obj) -> str:
        return str(obj.public_id)[:8]

    @admin.display(description="state", ordering="state")
    def state_label(self, obj) -> str:
        return obj.state.replace("_", " ")

    @admin.display(description="hold reason")
    def hold(self, obj) -> str:
        return (obj.hold_reason or "")[:40] or "—"

    @admin.display(description="sent", ordering="amount_in")
    def amount_sent(self, obj) -> str:
        from gateway.console.charts import money_text

        return money_text(obj.amount_in, obj.quote.sell_asset) if obj.quote_id else "—"

    @admin.display(description="paid out", ordering="amount_out")
    def amount_paid(self, obj) -> str:
        from gateway.console.charts import money_text

        return money_text(obj.amount_out, obj.currency_out)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj) -> str:
        from django.utils.timesince import timesince

        return timesince(obj.created_at, depth=1)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        extra = list(OPERATOR_FIELDS)
        if request.user.has_perm("transfers.decrypt_parties"):
            extra.insert(0, "parties")
        return [*fieldsets, ("Operations", {"fields": extra})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "parties", *OPERATOR_FIELDS]

    @admin.display(description="Parties (decrypted for this page only)")
    def parties(self, obj) -> str:
        rows = []
        for role, data in (("sender", obj.sender), ("recipient", obj.recipient)):
            for key, value in sorted((data or {}).items()):
                rows.append((role, key, value))
        return _table(["party", "field", "value"], rows) if rows else "—"

    @admin.display(description="Compliance case and decision")
    def case_and_decision(self, obj) -> str:
        from compliance.cases.selectors import cases_for_subject
        from compliance.selectors import screening_decisions_for

        decisions = screening_decisions_for(subject_reference=obj.reference)
        if not decisions:
            return "—"
        rows = []
        for decision in decisions:
            matches = "; ".join(
                f"{reason.get('rule', reason.get('kind', '?'))}"
                + (f" {reason['entry_id']}" if reason.get("entry_id") else "")
                # a name hit stores the listed name as matched_name
                + (f" ({reason.get('matched_name') or reason['name']})"
                   if reason.get("matched_name") or reason.get("name") else "")
                + (f" score {reason['score']}" if reason.get("score") is not None else "")
                for reason in decision.reasons)
            rows.append((_local(decision.created_at), decision.outcome,
                         decision.decided_by or "screening", matches,
                         decision.rules_version))
        cases = format_html_join(" ", '<a href="{}">case {} ({})</a>', (
            (reverse("admin:cases_case_change", args=[case.pk]), str(case.public_id)[:8],
             case.get_status_display()) for case in cases_for_subject(
                subject_reference=obj.reference)))
        return format_html("{}<p>{}</p>", _table(
            ["at", "outcome", "by", "reasons, list entry and score", "rules"], rows), cases)

    @admin.display(description="Payout attempts")
    def payout_attempts(self, obj) -> str:
        from ramps.payouts.selectors import payout_attempts_for_owner_with_rail

        attempts = payout_attempts_for_owner_with_rail(owner_reference=obj.reference)
        rows = [(_local(attempt.created_at), attempt.rail.code,
                 attempt.reference, attempt.status, attempt.failure_kind or "",
                 f"{attempt.result_code} {attempt.result_description}".strip(),
                 attempt.provider_receipt) for attempt in attempts]
        return _table(["at", "rail", "reference", "status", "failure", "provider result",
                       "receipt"], rows) if rows else "—"

    @admin.display(description="Redemption code")
    def redemption_state(self, obj) -> str:
        from datetime import datetime

        from gateway.common.problems import DomainError
        from gateway.transfers.services.payout_rails import transfer_cash_pickup

        try:
            state = transfer_cash_pickup(obj)
        except DomainError as exc:  # the code key changed since it was issued
            return exc.detail
        if state is None or state.details is None:
            return "—"
        details = state.details
        paid_at = details["paid_at"]
        return format_html("{} (issue {}, expires {:%Y-%m-%d %H:%M}){}",
                           state.label, details["issue_number"],
                           timezone.localtime(datetime.fromisoformat(details["expires_at"])),
                           f", paid {_local(datetime.fromisoformat(paid_at))}"
                           if paid_at else "")

    @admin.display(description="Webhooks sent")
    def webhooks_sent(self, obj) -> str:
        from gateway.webhooks.models import WebhookDelivery

        deliveries = WebhookDelivery.objects.filter(
            transfer_id=obj.pk).order_by("created_at", "pk")
        rows = [(_local(delivery.created_at), delivery.event_type,
                 delivery.status, delivery.attempts, delivery.last_status_code or "",
                 delivery.last_error[:80]) for delivery in deliveries]
        if not rows:
            return "—"

        deliveries_url = (reverse("admin:webhooks_webhookdelivery_changelist")
                          + f"?transfer_id={obj.pk}")
        return format_html(
            '{}<p><a href="{}">Resend one of them</a> (deliveries list), or "Resend the failed '
            'webhooks" on the transfer list.</p>', _table(
                ["at", "event", "status", "attempts", "HTTP", "error"], rows), deliveries_url)

    @admin.display(description="Audit trail")
    def audit_trail(self, obj) -> str:
        events = AuditEvent.objects.filter(subject_reference=obj.reference).order_by(
            "created_at", "id")
        rows = [(_local(event.created_at), event.actor_username,
                 event.action, event.outcome, event.reason, event.detail[:120],
                 event.ip_address or "") for event in events]
        return _table(["at", "who", "action", "outcome", "reason", "result", "IP"],
                      rows) if rows else "—"
