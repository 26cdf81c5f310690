"""Events: typed, numbered, recorded in the caller's transaction with one delivery per endpoint.

Numbering uses two counters incremented by an upsert (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``), whose row stays locked until the caller commits:

- ``partner:<id>``: the event's ``position`` in the partner's feed. Two transactions that record
  events for one partner take positions in the order they commit, so a reader paging with
  ``after=<position>`` never skips an event that committed late.
- ``transfer:<id>``: the event's ``sequence`` among the transfer's events (1, 2, 3...).
"""

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gateway.webhooks.models import (
    WebhookCounter,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from gateway.webhooks.selectors import transfer_pk_for_partner, transfer_states

logger = logging.getLogger(__name__)

TRANSFER_CREATED = "transfer.created"
TRANSFER_CASH_PICKUP_EXPIRED = "transfer.cash_pickup_expired"
PING = "webhook.ping"
ENDPOINT_DISABLED = "webhook_endpoint.disabled"


def transfer_event_type(state: str) -> str:
    """The event a transition reports: named after the state the transfer moves to."""
    return f"transfer.{state}"


def event_types() -> list[str]:
    """Every event type an endpoint may ask for."""
    from gateway.webhooks.customers import CUSTOMER_EVENT_TYPES

    return sorted({TRANSFER_CREATED, TRANSFER_CASH_PICKUP_EXPIRED, PING, ENDPOINT_DISABLED,
                   *CUSTOMER_EVENT_TYPES,
                   *(transfer_event_type(state) for state in transfer_states())})


def _counter_next(key: str) -> int:
    quote = connection.ops.quote_name
    table = quote(WebhookCounter._meta.db_table)
    key_column, value_column = quote("key"), quote("value")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {value_column}) VALUES (%s, 1) "  # noqa: S608
            f"ON CONFLICT ({key_column}) DO UPDATE SET {value_column} = "
            f"{table}.{value_column} + 1 RETURNING {value_column}",
            [key],
        )
        return cursor.fetchone()[0]


def webhook_event_enqueue(*, partner_id: int, event_type: str, data: dict[str, Any],
                          transfer_id: int | None = None,
                          endpoint_id: int | None = None) -> list[int]:
    """Record an event and one delivery per enabled endpoint of the partner that takes its type;
    each delivery is handed to the workers once the caller commits. Returns the delivery ids.

    An event about a transfer gets the transfer's next ``sequence``: the transfer is
    ``transfer_id``, or for a ``transfer.*`` type the one ``data["id"]`` names. With ``endpoint_id``
    (a ping) the event goes to that endpoint only, whatever its filter, and not to the feed.
    """
    now = timezone.now()
    if transfer_id is None and event_type.startswith("transfer.") and data.get("id"):
        transfer_id = transfer_pk_for_partner(partner_id=partner_id, public_id=str(data["id"]))
    with transaction.atomic():
        position = None if endpoint_id else _counter_next(f"partner:{partner_id}")
        sequence = _counter_next(f"transfer:{transfer_id}") if transfer_id else None
        public_id = uuid.uuid4()
        envelope: dict[str, Any] = {"id": f"evt_{public_id.hex}", "type": event_type,
                                    "timestamp": now.isoformat().replace("+00:00", "Z")}
        if sequence is not None:
            envelope["sequence"] = sequence
        envelope["data"] = data
        event = WebhookEvent.objects.create(
            public_id=public_id, partner_id=partner_id, position=position,
            event_type=event_type, transfer_id=transfer_id, sequence=sequence,
            payload=envelope, created_at=now)
        endpoints = WebhookEndpoint.objects.filter(partner_id=partner_id).only(
            "pk", "event_types", "is_active")
        if endpoint_id:
            endpoints = endpoints.filter(pk=endpoint_id)
        else:
            endpoints = [endpoint for endpoint in endpoints.filter(is_active=True)
                         if endpoint.wants(event_type)]
        deliveries = WebhookDelivery.objects.bulk_create([
            WebhookDelivery(
                message_id=f"msg_{uuid.uuid4().hex}", endpoint_id=endpoint.pk, event=event,
                event_type=event_type, transfer_id=transfer_id, sequence=sequence,
                max_attempts=settings.WEBHOOK_MAX_ATTEMPTS, next_attempt_at=now)
            for endpoint in endpoints
        ])
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        from gateway.webhooks.tasks import webhook_deliver

        # One message for the event's deliveries: one claim for all its endpoints.
        transaction.on_commit(lambda: webhook_deliver.delay(*ids))
    return ids


def webhook_events_cleanup(*, now=None, batch: int = 1000) -> int:
    """Delete events older than ``WEBHOOK_EVENT_RETENTION_DAYS`` (with their deliveries), in
    batches; an event with a delivery still pending is kept. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            WebhookEvent.objects.filter(created_at__lt=cutoff)
            .exclude(deliveries__status=WebhookDelivery.Status.PENDING)
            .order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        with transaction.atomic():
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            WebhookEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    if deleted:
        logger.info("deleted %s webhook events older than %s", deleted, cutoff)
    return deleted
