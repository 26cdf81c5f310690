"""Webhook endpoints of partners, and the outbox of deliveries (Standard Webhooks)."""

import base64
import secrets

from django.db import models

from gateway.common.models import BaseModel


def webhook_secret_generate() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(BaseModel):
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE,
                                related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=webhook_secret_generate,
                              help_text="Standard Webhooks signing secret (whsec_...)")
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(BaseModel):
    """One message to one endpoint; written in the same transaction as the event it reports."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent (or retried at next_attempt_at)"
        DELIVERED = "delivered", "Endpoint answered 2xx"
        FAILED = "failed", "Gave up after the maximum number of attempts"

    message_id = models.CharField(max_length=64, unique=True,
                                  help_text="webhook-id header: the receiver's dedup key")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name_plural = "webhook deliveries"
