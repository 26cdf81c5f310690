"""Partners' webhook endpoints, the events they hear about, and the delivery outbox.

Messages follow Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).
One ``WebhookEvent`` per change a partner may hear about (also the rows of the
``GET /api/v1/events`` feed); one ``WebhookDelivery`` per event and endpoint, written in the same
transaction as the change it reports.
"""

import base64
import secrets
import uuid

from django.db import models

from gateway.common.crypto import EncryptedJSONField
from gateway.common.models import BaseModel


def webhook_secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(BaseModel):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE,
                                related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, blank=True,
        help_text="Event types this endpoint receives; an empty list means every type")
    secret = EncryptedJSONField(
        default=webhook_secret_generate,
        help_text="Standard Webhooks signing secret (whsec_...), encrypted at rest")
    previous_secret = EncryptedJSONField(
        null=True, blank=True,
        help_text="The secret before the last rotation; it also signs until "
                  "previous_secret_expires_at")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Enabled: new events are queued and pending ones are sent")
    disabled_reason = models.CharField(
        max_length=500, blank=True,
        help_text="Why the gateway disabled the endpoint (empty when the partner did or when "
                  "it is enabled)")
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True,
        help_text="First failed attempt since the last success; the endpoint is disabled when "
                  "this is older than WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS")

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(models.Model):
    """One thing that happened, as the partner sees it; the same envelope goes to every endpoint.

    ``position`` orders a partner's events in commit order (the feed's cursor); ``sequence``
    counts the changes of one transfer (1, 2, 3...) so that a receiver can drop a stale event.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE,
                                related_name="webhook_events")
    position = models.BigIntegerField(
        null=True, blank=True,
        help_text="Per partner, increasing in commit order; empty for a ping (not in the feed)")
    event_type = models.CharField(max_length=60)
    transfer_id = models.BigIntegerField(
        null=True, blank=True, help_text="Internal id of the transfer the event is about")
    sequence = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per transfer, increasing with every change")
    payload = models.JSONField(help_text="The envelope sent: id, type, timestamp, sequence, data")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "position"],
                                    name="webhooks_event_partner_position_unique"),
            models.UniqueConstraint(fields=["transfer_id", "sequence"],
                                    name="webhooks_event_transfer_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.position}"


class WebhookCounter(models.Model):
    """Counters incremented with an upsert that keeps the row locked until commit (see
    ``gateway.webhooks.services.events``): feed positions per partner, sequences per transfer.
    They outlive the events, which are deleted after the retention period."""

    key = models.CharField(max_length=80, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class WebhookDelivery(BaseModel):
    """One event to one endpoint, claimed for each attempt, never held locked during the call."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent (or retried at next_attempt_at)"
        DELIVERED = "delivered", "Endpoint answered 2xx"
        FAILED = "failed", "Gave up: attempts exhausted, 410 Gone, or the endpoint was removed"

    message_id = models.CharField(max_length=64, unique=True,
                                  help_text="webhook-id header: the receiver's dedup key")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=60)
    transfer_id = models.BigIntegerField(null=True, blank=True)
    sequence = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(
        help_text="Attempts allowed; a manual redelivery allows one more")
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True,
        help_text="An attempt is in flight until then; after it, another worker may take over")
    claim_token = models.UUIDField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "transfer_id", "sequence"],
                         name="webhooks_delivery_order_idx"),
            models.Index(fields=["endpoint", "status", "claimed_until"],
                         name="webhooks_delivery_flight_idx"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return self.message_id

    @property
    def payload(self) -> dict:
        return self.event.payload
