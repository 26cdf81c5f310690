"""Webhook outbox: enqueue in the caller's transaction, send after commit, retry with backoff."""

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def webhook_event_enqueue(*, partner_id: int, event_type: str, data: dict[str, Any]) -> list[int]:
    """Write one delivery per active endpoint of the partner; send each once committed."""
    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(
            message_id=f"msg_{uuid.uuid4().hex}", endpoint=endpoint, event_type=event_type,
            payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
            next_attempt_at=now,
        )
        for endpoint in WebhookEndpoint.objects.filter(partner_id=partner_id, is_active=True)
    ]
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        from gateway.webhooks.tasks import webhook_deliver

        transaction.on_commit(lambda: [webhook_deliver.delay(pk) for pk in ids])
    return ids


def webhook_sign(*, secret: str, message_id: str, body: str, timestamp=None) -> dict[str, str]:
    timestamp = timestamp or timezone.now()
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def webhook_delivery_send(*, delivery_id: int) -> WebhookDelivery:
    """Send one pending delivery. The row is claimed (locked) for the call's duration, so two
    workers never send it at once; the receiver dedups repeats by ``webhook-id``."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint").filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return delivery or WebhookDelivery.objects.get(pk=delivery_id)
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
        headers = webhook_sign(secret=delivery.endpoint.secret, message_id=delivery.message_id,
                               body=body)
        delivery.attempts += 1
        try:
            # Redirects are not followed: a 3xx means the body did not reach a receiver.
            response = requests.post(delivery.endpoint.url, data=body.encode(), headers=headers,
                                     timeout=settings.OUTBOUND_HTTP_TIMEOUT_SECONDS,
                                     allow_redirects=False)
            delivery.last_status_code = response.status_code
            ok = 200 <= response.status_code < 300
            delivery.last_error = "" if ok else response.text[:500]
        except requests.RequestException as exc:
            ok = False
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
        now = timezone.now()
        if ok:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = now
        elif delivery.last_status_code == 410:
            # 410 Gone: the receiver says the endpoint no longer exists; stop sending to it.
            delivery.status = WebhookDelivery.Status.FAILED
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(is_active=False)
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            delivery.next_attempt_at = now + timedelta(seconds=2 ** delivery.attempts)
        delivery.save(update_fields=["attempts", "last_status_code", "last_error", "status",
                                     "delivered_at", "next_attempt_at", "updated_at"])
    if not ok:
        logger.warning("webhook %s to endpoint %s failed (attempt %s): %s", delivery.message_id,
                       delivery.endpoint_id, delivery.attempts, delivery.last_error)
    return delivery
