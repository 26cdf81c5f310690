"""Operators' view of webhook endpoints and deliveries, with resending: one delivery (the same
message, same ``webhook-id``), or every failed delivery of an endpoint since a date. Both go
through the services the partner's API uses, check ``webhooks.resend_delivery``, ask for a
reason and are audited."""

import datetime

from django.contrib import admin
from django.utils import timezone

from gateway.common.operator_actions import OperatorActionsMixin, operator_action
from gateway.common.problems import DomainError
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.selectors import transfer_public_id
from gateway.webhooks.services import (
    webhook_deliveries_redeliver_failed,
    webhook_delivery_redeliver,
)

RESEND_PERMISSION = "webhooks.resend_delivery"
DELIVERY_AUDIT_FIELDS = ["status", "attempts", "max_attempts", "next_attempt_at"]


def delivery_subject(delivery: WebhookDelivery) -> str:
    """The public id of the transfer the delivery is about (its audit trail shows the resend)."""
    if delivery.transfer_id is None:
        return ""
    return transfer_public_id(transfer_id=delivery.transfer_id)


def since_parse(text: str) -> datetime.datetime:
    """A date (YYYY-MM-DD, the start of that day in the operator's time zone) or an ISO 8601
    time; in the future or unreadable: a DomainError."""
    text = (text or "").strip()
    try:
        if len(text) == 10:
            moment = datetime.datetime.combine(datetime.date.fromisoformat(text),
                                               datetime.time.min)
        else:
            moment = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise DomainError(f"'since' must be a date like 2026-12-01, not {text[:30]!r}.",
                          slug="invalid-date", status=422) from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    if moment > timezone.now():
        raise DomainError("'since' is in the future: nothing failed after it yet.",
                          slug="invalid-date", status=422)
    return moment


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["url", "partner", "is_active", "disabled_reason", "failing_since",
                    "created_at"]
    exclude = ["secret", "previous_secret"]
    actions = ["resend_failed_since"]

    @operator_action(permission=RESEND_PERMISSION, audit_fields=["is_active", "failing_since"],
                     description="Resend every failed delivery since a date",
                     extra_fields=lambda request: [{
                         "name": "since", "label": "Failed deliveries created since "
                                                   "(YYYY-MM-DD, your time zone)"}])
    def resend_failed_since(self, request, endpoint, reason):
        since = since_parse(request.POST.get("since", ""))
        count = webhook_deliveries_redeliver_failed(endpoint=endpoint, since=since)
        return f"{count} failed deliveries since {since:%Y-%m-%d %H:%M %Z} resent"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OperatorActionsMixin, admin.ModelAdmin):
    list_display = ["message_id", "event_type", "sequence", "endpoint", "status", "attempts",
                    "next_attempt_at", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["resend_delivery"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @operator_action(permission=RESEND_PERMISSION, audit_fields=DELIVERY_AUDIT_FIELDS,
                     subject=delivery_subject,
                     description="Resend the selected deliveries (same message id)")
    def resend_delivery(self, request, delivery, reason):
        delivery = webhook_delivery_redeliver(delivery=delivery)
        return f"queued again (attempt {delivery.attempts + 1} of {delivery.max_attempts})"

