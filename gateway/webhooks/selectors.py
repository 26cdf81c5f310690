"""Reads for the webhook API: a partner's endpoints, their deliveries, the event feed."""

import uuid
from datetime import datetime

from django.apps import apps
from django.db.models import QuerySet

from gateway.common.problems import DomainError
from gateway.partners.models import Partner
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


class CursorExpiredError(DomainError):
    slug = "cursor-expired"
    title = "Events after this cursor are no longer kept"
    status = 410


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# Events and deliveries keep the transfer they are about as its internal id (``transfer_id``); the
# model is looked up by name so that webhooks import nothing from transfers (which queues events).
TRANSFER_MODEL = "transfers.Transfer"


def transfer_states() -> list[str]:
    """Every state a transfer may be in (the choices of its ``state`` column)."""
    field = apps.get_model(TRANSFER_MODEL)._meta.get_field("state")
    return [value for value, _label in field.choices]


def transfer_pk_for_partner(*, partner_id: int, public_id: str) -> int | None:
    """The internal id of the partner's transfer ``public_id`` names; None if there is none."""
    public_uuid = _uuid(public_id)
    if public_uuid is None:
        return None
    return (apps.get_model(TRANSFER_MODEL).objects
            .filter(partner_id=partner_id, public_id=public_uuid)
            .values_list("pk", flat=True).first())


def transfer_public_id(*, transfer_id: int) -> str:
    """The public id of the transfer with internal id ``transfer_id`` ("" if there is none)."""
    public_id = (apps.get_model(TRANSFER_MODEL).objects.filter(pk=transfer_id)
                 .values_list("public_id", flat=True).first())
    return str(public_id or "")


def webhook_endpoints_for_partner(*, partner: Partner) -> QuerySet:
    return WebhookEndpoint.objects.filter(partner=partner).order_by("created_at", "pk")


def webhook_endpoint_get_for_partner(*, partner: Partner, public_id: str) -> WebhookEndpoint | None:
    public_uuid = _uuid(public_id)
    if public_uuid is None:
        return None
    return WebhookEndpoint.objects.filter(partner=partner, public_id=public_uuid).first()


def webhook_deliveries_list(*, endpoint: WebhookEndpoint, status: str | None = None,
                            event_type: str | None = None, transfer_id: str | None = None,
                            since: datetime | None = None, before: int | None = None,
                            limit: int = 50) -> tuple[list[WebhookDelivery], bool]:
    """Newest first; ``before`` is the cursor of the last row of the previous page."""
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if status:
        rows = rows.filter(status=status)
    if event_type:
        rows = rows.filter(event_type=event_type)
    if transfer_id:
        internal = transfer_pk_for_partner(partner_id=endpoint.partner_id, public_id=transfer_id)
        rows = rows.filter(transfer_id=internal) if internal else rows.none()
    if since:
        rows = rows.filter(created_at__gte=since)
    if before:
        rows = rows.filter(pk__lt=before)
    page = list(rows.order_by("-pk")[:limit + 1])
    return page[:limit], len(page) > limit


def webhook_delivery_get(*, endpoint: WebhookEndpoint, message_id: str) -> WebhookDelivery | None:
    return (WebhookDelivery.objects.select_related("event")
            .filter(endpoint=endpoint, message_id=message_id).first())


def webhook_events_feed(*, partner: Partner, after: int = 0, limit: int = 100,
                        event_type: str | None = None) -> tuple[list[WebhookEvent], bool]:
    """The partner's events after position ``after``, oldest first. Raises
    ``CursorExpiredError`` when events right after the cursor were deleted (retention): the
    reader has missed some and must resynchronise from the transfers themselves."""
    events = WebhookEvent.objects.filter(partner=partner, position__isnull=False)
    if after > 0:
        oldest = events.order_by("position").values_list("position", flat=True).first()
        if oldest is not None and oldest > after + 1:
            raise CursorExpiredError(
                f"Events after cursor {after} were deleted after the retention period; the "
                f"oldest kept is {oldest - 1}. Read the transfers again, then page from there.",
                extra={"oldest_cursor": str(oldest - 1)})
    events = events.filter(position__gt=after)
    if event_type:
        events = events.filter(event_type=event_type)
    page = list(events.order_by("position")[:limit + 1])
    return page[:limit], len(page) > limit
