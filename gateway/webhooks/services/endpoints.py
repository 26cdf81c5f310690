"""Self-service endpoints: create, change, delete, rotate the secret, ping, redeliver."""

import ipaddress
import logging
import socket
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.common.problems import ConflictError, DomainError
from gateway.partners.models import Partner
from gateway.webhooks.client import (
    AddressRefusedError,
    address_is_public,
    host_addresses_check,
    private_addresses_allowed,
    url_host_port,
)
from gateway.webhooks.models import (
    WebhookDelivery,
    WebhookEndpoint,
    webhook_secret_generate,
)
from gateway.webhooks.services.events import PING, event_types, webhook_event_enqueue

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status


class InvalidWebhookEndpointError(DomainError):
    slug = "webhook-endpoint-invalid"
    title = "The webhook endpoint is not acceptable"
    status = 422


def webhook_url_validate(url: str) -> str:
    """An absolute http(s) URL without credentials; https and a public address outside demo
    mode (``WEBHOOK_REQUIRE_HTTPS``, ``WEBHOOK_ALLOW_PRIVATE_URLS``). The address is checked
    again at every connection (``gateway.webhooks.client``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookEndpointError(f"url: {exc}.") from exc
    allowed = ("https",) if settings.WEBHOOK_REQUIRE_HTTPS else ("https", "http")
    if parts.scheme not in allowed:
        raise InvalidWebhookEndpointError(
            f"url must use {' or '.join(allowed)}, not {parts.scheme or 'no scheme'}.")
    if not parts.hostname:
        raise InvalidWebhookEndpointError("url has no host.")
    if parts.username or parts.password:
        raise InvalidWebhookEndpointError("url must not carry a user name or password.")
    if parts.fragment:
        raise InvalidWebhookEndpointError("url must not have a #fragment.")
    if private_addresses_allowed():
        return url
    host, port = url_host_port(url)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host_addresses_check(host, port)
        except socket.gaierror as exc:
            raise InvalidWebhookEndpointError(f"url host {host} does not resolve.") from exc
        except AddressRefusedError as exc:
            raise InvalidWebhookEndpointError(f"url: {exc}") from exc
    else:
        if not address_is_public(host):
            raise InvalidWebhookEndpointError(
                f"url host {host} is not a public address (private, loopback, link-local and "
                f"reserved addresses are refused).")
    return url


def webhook_event_types_validate(types: list[str]) -> list[str]:
    known = set(event_types())
    unknown = sorted(set(types) - known)
    if unknown:
        raise InvalidWebhookEndpointError(
            f"event_types: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    return sorted(set(types))


def webhook_endpoint_create(*, partner: Partner, url: str, event_types: list[str] | None = None,
                            description: str = "", enabled: bool = True) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (``endpoint.secret``, shown to the partner once)."""
    endpoint = WebhookEndpoint(
        partner=partner, url=webhook_url_validate(url), description=description,
        event_types=webhook_event_types_validate(event_types or []), is_active=enabled)
    if partner.webhook_endpoints.count() >= settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER:
        raise InvalidWebhookEndpointError(
            f"A partner may have at most {settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER} webhook "
            f"endpoints.")
    endpoint.save()
    logger.info("webhook endpoint %s created for partner %s", endpoint.public_id, partner.pk)
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, url: str | None = None,
                            event_types: list[str] | None = None,
                            description: str | None = None,
                            enabled: bool | None = None) -> WebhookEndpoint:
    """Change what is given. Enabling clears the reason it was disabled and its failure streak;
    its pending deliveries then go out (disabled, they wait)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        fields = ["updated_at"]
        if url is not None:
            endpoint.url = webhook_url_validate(url)
            fields.append("url")
        if event_types is not None:
            endpoint.event_types = webhook_event_types_validate(event_types)
            fields.append("event_types")
        if description is not None:
            endpoint.description = description
            fields.append("description")
        if enabled is not None and enabled != endpoint.is_active:
            endpoint.is_active = enabled
            endpoint.disabled_reason = ""
            endpoint.disabled_at = None if enabled else timezone.now()
            endpoint.failing_since = None
            fields += ["is_active", "disabled_reason", "disabled_at", "failing_since"]
        endpoint.save(update_fields=fields)
        if enabled:
            _deliveries_hand_over(endpoint_id=endpoint.pk)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint and its deliveries (an attempt in flight finds its row gone and
    records nothing). The events stay in the feed."""
    endpoint.delete()


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint,
                                   grace_seconds: int | None = None) -> WebhookEndpoint:
    """A new secret; the current one keeps signing (a second signature) for ``grace_seconds``,
    so the partner can switch its receiver without losing a message. A secret that was still
    in an earlier grace period stops signing now."""
    grace = settings.WEBHOOK_SECRET_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if not 0 <= grace <= settings.WEBHOOK_SECRET_GRACE_MAX_SECONDS:
        raise InvalidWebhookEndpointError(
            f"grace_period_seconds must be between 0 and "
            f"{settings.WEBHOOK_SECRET_GRACE_MAX_SECONDS}.")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret if grace else None
        endpoint.previous_secret_expires_at = (timezone.now() + timedelta(seconds=grace)
                                               if grace else None)
        endpoint.secret = webhook_secret_generate()
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at",
                                     "updated_at"])
    logger.info("webhook endpoint %s: secret rotated, previous signs for %s s",
                endpoint.public_id, grace)
    return endpoint


def webhook_endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.ping`` to this endpoint only (whatever its filter; not in the feed)."""
    if not endpoint.is_active:
        raise ConflictError("The endpoint is disabled; enable it before sending a test.",
                            slug="webhook-endpoint-disabled")
    with transaction.atomic():
        [delivery_id] = webhook_event_enqueue(
            partner_id=endpoint.partner_id, event_type=PING, endpoint_id=endpoint.pk,
            data={"endpoint_id": str(endpoint.public_id),
                  "message": "Test event sent on the partner's request."})
    return WebhookDelivery.objects.select_related("event").get(pk=delivery_id)


def _deliveries_hand_over(*, endpoint_id: int, delivery_ids: list[int] | None = None) -> None:
    from gateway.webhooks.services.delivery import webhook_deliveries_due
    from gateway.webhooks.tasks import webhook_deliver

    def hand_over() -> None:
        due = delivery_ids or webhook_deliveries_due(
            limit=settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT, endpoint_id=endpoint_id)
        for pk in due:
            webhook_deliver.delay(pk)

    transaction.on_commit(hand_over)


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the same message (same ``webhook-id``) again now, with one more attempt allowed;
    an attempt already in flight is not doubled."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status == Status.PENDING and delivery.claimed_until \
                and delivery.claimed_until > timezone.now():
            raise ConflictError("An attempt at this delivery is in flight; wait for its outcome.",
                                slug="webhook-delivery-in-flight")
        now = timezone.now()
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now
        delivery.max_attempts = max(delivery.max_attempts, delivery.attempts + 1)
        delivery.claimed_until = None
        delivery.claim_token = None
        delivery.save(update_fields=["status", "next_attempt_at", "max_attempts",
                                     "claimed_until", "claim_token", "updated_at"])
        _deliveries_hand_over(endpoint_id=delivery.endpoint_id, delivery_ids=[delivery.pk])
    return delivery


def webhook_deliveries_redeliver_failed(*, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Redeliver every failed delivery of the endpoint created at or after ``since``."""
    with transaction.atomic():
        failed = WebhookDelivery.objects.select_for_update().filter(
            endpoint=endpoint, status=Status.FAILED, created_at__gte=since)
        ids = list(failed.values_list("pk", flat=True))
        now = timezone.now()
        for delivery in WebhookDelivery.objects.filter(pk__in=ids):
            delivery.status = Status.PENDING
            delivery.next_attempt_at = now
            delivery.max_attempts = max(delivery.max_attempts, delivery.attempts + 1)
            delivery.save(update_fields=["status", "next_attempt_at", "max_attempts",
                                         "updated_at"])
        if ids:
            _deliveries_hand_over(endpoint_id=endpoint.pk)
    return len(ids)
