"""Thin tasks: take an id, call one service."""

from celery import shared_task
from django.utils import timezone

from gateway.webhooks.models import WebhookDelivery
from gateway.webhooks.services import webhook_delivery_send


@shared_task(name="gateway.webhooks.tasks.webhook_deliver")
def webhook_deliver(delivery_id: int) -> None:
    webhook_delivery_send(delivery_id=delivery_id)


@shared_task(name="gateway.webhooks.tasks.webhooks_redrive")
def webhooks_redrive() -> int:
    """Send what is due: retries, and deliveries whose first message was lost."""
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        webhook_deliver.delay(pk)
    return len(due)
