"""Webhook services: events (``events``), delivery (``delivery``), self-service endpoints
(``endpoints``). The package re-exports the names other apps use."""

from gateway.webhooks.services.delivery import (
    Claim,
    retry_delay,
    retry_delay_nominal,
    webhook_claim_send,
    webhook_deliveries_claim,
    webhook_deliveries_due,
    webhook_delivery_send,
    webhook_delivery_submit,
    webhook_endpoint_disable,
    webhook_sign,
)
from gateway.webhooks.services.endpoints import (
    InvalidWebhookEndpointError,
    webhook_deliveries_redeliver_failed,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_ping,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)
from gateway.webhooks.services.events import (
    ENDPOINT_DISABLED,
    PING,
    TRANSFER_CREATED,
    event_types,
    transfer_event_type,
    webhook_event_enqueue,
    webhook_events_cleanup,
)

__all__ = [
    "ENDPOINT_DISABLED", "PING", "TRANSFER_CREATED", "Claim", "InvalidWebhookEndpointError",
    "event_types", "retry_delay", "retry_delay_nominal", "transfer_event_type",
    "webhook_claim_send", "webhook_deliveries_claim", "webhook_deliveries_due",
    "webhook_deliveries_redeliver_failed", "webhook_delivery_redeliver", "webhook_delivery_send",
    "webhook_delivery_submit", "webhook_endpoint_create", "webhook_endpoint_delete",
    "webhook_endpoint_disable", "webhook_endpoint_ping", "webhook_endpoint_secret_rotate",
    "webhook_endpoint_update", "webhook_event_enqueue", "webhook_events_cleanup", "webhook_sign",
]
