"""Thin tasks: take an id, call one service."""

from celery import shared_task
from django.conf import settings

from gateway.webhooks.services import (
    webhook_deliveries_due,
    webhook_delivery_submit,
    webhook_events_cleanup,
)


@shared_task(name="gateway.webhooks.tasks.webhook_deliver")
def webhook_deliver(delivery_id: int, *more_ids: int) -> None:
    """Hand the deliveries (one event's, or one re-driven) to this worker process's sender
    threads; returns at once."""
    webhook_delivery_submit(delivery_ids=[delivery_id, *more_ids])


@shared_task(name="gateway.webhooks.tasks.webhooks_redrive")
def webhooks_redrive() -> int:
    """Hand over what is due: retries, deliveries whose message was lost, claims that lapsed.
    Queuing a delivery early does nothing: it is claimed only once due."""
    due = webhook_deliveries_due(limit=settings.WEBHOOK_REDRIVE_LIMIT)
    for pk in due:
        webhook_deliver.delay(pk)
    return len(due)


@shared_task(name="gateway.webhooks.tasks.webhook_events_cleanup")
def webhook_events_cleanup_task() -> int:
    return webhook_events_cleanup()
