"""Delivery: claim in a short transaction, send with no transaction open, record in another.

- A claim sets ``claimed_until`` (a lease) and counts the attempt; the row is not locked during
  the call, so a slow receiver holds nothing in the database. A claim whose worker died is taken
  over once its lease has passed.
- Only a delivery that is due is claimed (``next_attempt_at`` not in the future), whoever asks:
  a re-drive or a duplicate task message cannot make an attempt early.
- Order: for one endpoint and one transfer, a delivery is not claimed while an earlier one
  (lower ``sequence``) is still pending, unless it has waited ``WEBHOOK_ORDER_MAX_WAIT_SECONDS``;
  then it goes with its sequence and the receiver can drop the stale one.
- An endpoint has at most ``WEBHOOK_ENDPOINT_MAX_IN_FLIGHT`` attempts in flight, so a slow one
  occupies that many sender threads and no more.
- A failed attempt is retried on an exponential schedule with jitter over about a day; an
  endpoint failing for longer than ``WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS`` (or answering 410
  Gone) is disabled with its reason, and the partner hears of it through the feed and its other
  endpoints.
"""

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from gateway.webhooks.client import PostResult, webhook_post
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.services.events import ENDPOINT_DISABLED, webhook_event_enqueue

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status


# --- schedule and signatures ----------------------------------------------------------------


def retry_delay_nominal(*, attempt: int) -> float:
    """Seconds after failed attempt number ``attempt`` (1-based) before the next, no jitter."""
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * settings.WEBHOOK_RETRY_FACTOR ** (attempt - 1)
    return float(min(delay, settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS))


def retry_delay(*, attempt: int, rng: random.Random | None = None) -> float:
    """The nominal delay spread by +/- ``WEBHOOK_RETRY_JITTER`` (a fraction), so endpoints that
    failed together do not all come back in the same second."""
    jitter = settings.WEBHOOK_RETRY_JITTER
    spread = 1 - jitter + 2 * jitter * (rng or random).random()
    return retry_delay_nominal(attempt=attempt) * spread


def webhook_sign(*, secret: str, message_id: str, body: str, timestamp: datetime | None = None,
                 previous_secret: str | None = None) -> dict[str, str]:
    """Standard Webhooks headers. During a secret rotation's grace period both secrets sign:
    the header carries both signatures, space-separated, as the specification allows."""
    timestamp = timestamp or timezone.now()
    signatures = [Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)]
    if previous_secret:
        signatures.append(Webhook(previous_secret).sign(msg_id=message_id, timestamp=timestamp,
                                                        data=body))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def webhook_body(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"))


# --- claim ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    delivery: WebhookDelivery
    token: uuid.UUID


def _lease_seconds() -> float:
    # Longer than any call can last (connect and read timeouts), so a live claim is not taken.
    return max(settings.WEBHOOK_CLAIM_SECONDS, 2 * settings.OUTBOUND_HTTP_TIMEOUT_SECONDS + 5)


def webhook_deliveries_claimable(*, now: datetime) -> QuerySet:
    """Pending, due, not in flight, endpoint enabled, and not waiting behind an earlier one."""
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), transfer_id=OuterRef("transfer_id"),
        sequence__lt=OuterRef("sequence"), status=Status.PENDING)
    waited_enough = now - timedelta(seconds=settings.WEBHOOK_ORDER_MAX_WAIT_SECONDS)
    return (
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now,
                                       endpoint__is_active=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(transfer_id__isnull=True) | Q(created_at__lte=waited_enough)
                | ~Exists(earlier))
    )


def _in_flight(*, now: datetime, endpoint_ids: list[int] | None = None) -> dict[int, int]:
    rows = WebhookDelivery.objects.filter(status=Status.PENDING, claimed_until__gte=now)
    if endpoint_ids is not None:
        rows = rows.filter(endpoint_id__in=endpoint_ids)
    return dict(rows.order_by().values("endpoint_id").annotate(n=Count("id")).values_list(
        "endpoint_id", "n"))


def webhook_deliveries_claim(*, delivery_ids: list[int] | None = None,
                             endpoint_id: int | None = None, limit: int = 1,
                             now: datetime | None = None) -> list[Claim]:
    """Claim up to ``limit`` claimable deliveries (of the given ids or endpoint), within each
    endpoint's in-flight limit. Counts the attempt and returns the rows ready to send, their
    endpoint and event loaded (one locking read, one update)."""
    now = now or timezone.now()
    capacity = settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT
    in_flight = (
        WebhookDelivery.objects.filter(endpoint_id=OuterRef("endpoint_id"),
                                       status=Status.PENDING, claimed_until__gte=now)
        .order_by().values("endpoint_id").annotate(count=Count("pk")).values("count")
    )
    with transaction.atomic():
        candidates = webhook_deliveries_claimable(now=now)
        if delivery_ids is not None:
            candidates = candidates.filter(pk__in=delivery_ids)
        if endpoint_id is not None:
            candidates = candidates.filter(endpoint_id=endpoint_id)
        rows = list(
            candidates.annotate(endpoint_in_flight=Coalesce(Subquery(in_flight), 0))
            .filter(endpoint_in_flight__lt=capacity)
            .select_related("endpoint", "event")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "pk")[:limit]
        )
        taken: Counter[int] = Counter()
        chosen = []
        for delivery in rows:
            if delivery.endpoint_in_flight + taken[delivery.endpoint_id] < capacity:
                taken[delivery.endpoint_id] += 1
                chosen.append(delivery)
        if not chosen:
            return []
        token = uuid.uuid4()
        claimed_until = now + timedelta(seconds=_lease_seconds())
        WebhookDelivery.objects.filter(pk__in=[delivery.pk for delivery in chosen]).update(
            claimed_until=claimed_until, claim_token=token, attempts=F("attempts") + 1,
            last_attempt_at=now, updated_at=now)
    for delivery in chosen:
        delivery.claimed_until, delivery.claim_token = claimed_until, token
        delivery.attempts += 1
        delivery.last_attempt_at = now
    return [Claim(delivery=delivery, token=token) for delivery in chosen]


# --- send and record ------------------------------------------------------------------------


def _post(claim: Claim) -> PostResult:
    delivery, endpoint = claim.delivery, claim.delivery.endpoint
    now = timezone.now()
    previous = (endpoint.previous_secret if endpoint.previous_secret_expires_at
                and endpoint.previous_secret_expires_at > now else None)
    body = webhook_body(delivery.event.payload)
    headers = webhook_sign(secret=endpoint.secret, previous_secret=previous,
                           message_id=delivery.message_id, body=body, timestamp=now)
    return webhook_post(url=endpoint.url, body=body.encode(), headers=headers,
                        timeout=settings.OUTBOUND_HTTP_TIMEOUT_SECONDS)


def webhook_endpoint_disable(*, endpoint_id: int, reason: str,
                             now: datetime | None = None) -> bool:
    """Disable an enabled endpoint for ``reason`` (shown to operators and the partner) and tell
    the partner by an event (the feed, and its other endpoints). False if it was not enabled."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = (WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id,
                                                                       is_active=True).first())
        if endpoint is None:
            return False
        endpoint.is_active = False
        endpoint.disabled_reason = reason[:500]
        endpoint.disabled_at = now
        endpoint.save(update_fields=["is_active", "disabled_reason", "disabled_at",
                                     "updated_at"])
        webhook_event_enqueue(
            partner_id=endpoint.partner_id, event_type=ENDPOINT_DISABLED,
            data={"id": str(endpoint.public_id), "url": endpoint.url,
                  "disabled_reason": endpoint.disabled_reason,
                  "disabled_at": now.isoformat().replace("+00:00", "Z")})
    logger.warning("webhook endpoint %s of partner %s disabled: %s", endpoint.public_id,
                   endpoint.partner_id, reason)
    return True


def _record(claim: Claim, result: PostResult) -> str:
    """Write the attempt's outcome; returns delivered, retry, failed or superseded."""
    now = timezone.now()
    delivery = claim.delivery
    if result.ok:
        # A success counts even if the claim was taken over meanwhile.
        updated = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
            status=Status.DELIVERED, delivered_at=now, last_status_code=result.status_code,
            last_error="", claimed_until=None, claim_token=None, updated_at=now)
        if delivery.endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failing_since=None)
        return "delivered" if updated else "superseded"
    disable_reason = ""
    with transaction.atomic():
        current = (WebhookDelivery.objects.select_for_update()
                   .filter(pk=delivery.pk, status=Status.PENDING, claim_token=claim.token)
                   .first())
        if current is None:
            return "superseded"
        current.last_status_code = result.status_code
        current.last_error = result.error
        current.claimed_until = None
        current.claim_token = None
        if result.status_code == 410:
            current.status = Status.FAILED
            disable_reason = "The endpoint answered 410 Gone."
        elif current.attempts >= current.max_attempts:
            current.status = Status.FAILED
        else:
            current.next_attempt_at = now + timedelta(seconds=retry_delay(
                attempt=current.attempts))
        current.save(update_fields=["last_status_code", "last_error", "claimed_until",
                                    "claim_token", "status", "next_attempt_at", "updated_at"])
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id,
                                       failing_since__isnull=True).update(failing_since=now)
        failing_since = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).values_list(
            "failing_since", flat=True).first()
        limit = timedelta(seconds=settings.WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS)
        if not disable_reason and failing_since and now - failing_since >= limit:
            disable_reason = (
                f"No successful delivery since {failing_since.isoformat()} "
                f"(last: {result.status_code or 'no answer'} {result.error[:200]}).")
        if disable_reason:
            webhook_endpoint_disable(endpoint_id=delivery.endpoint_id, reason=disable_reason,
                                     now=now)
    logger.warning("webhook %s to endpoint %s failed (attempt %s of %s): %s %s",
                   delivery.message_id, delivery.endpoint_id, current.attempts,
                   current.max_attempts, result.status_code, result.error[:200])
    return "retry" if current.status == Status.PENDING else "failed"


def webhook_claim_send(claim: Claim) -> str:
    """The attempt itself: no transaction may be open here (the call can take seconds)."""
    return _record(claim, _post(claim))


def webhook_delivery_send(*, delivery_id: int) -> WebhookDelivery:
    """One attempt at one delivery if it can be claimed now; returns the row as it then is."""
    for claim in webhook_deliveries_claim(delivery_ids=[delivery_id]):
        webhook_claim_send(claim)
    return WebhookDelivery.objects.get(pk=delivery_id)


def webhook_endpoint_drain(*, endpoint_id: int, limit: int, seconds: float = 10.0) -> int:
    """Send what is claimable for one endpoint, one after another, up to ``limit`` attempts or
    ``seconds``: a worker that delivered goes on with that endpoint's next (e.g. the next
    sequence of the same transfer) without a round trip through the broker. It stops at the
    first failure: a failing endpoint is not hammered, its deliveries wait for their turn."""
    sent = 0
    deadline = time.monotonic() + seconds
    while sent < limit and time.monotonic() < deadline:
        claims = webhook_deliveries_claim(endpoint_id=endpoint_id, limit=1)
        if not claims:
            break
        sent += 1
        if webhook_claim_send(claims[0]) != "delivered":
            break
    return sent


# --- the workers' entry points --------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_pool_threads: set[threading.Thread] = set()


def _sender_thread_start() -> None:
    with _pool_lock:
        _pool_threads.add(threading.current_thread())


def _sender_pool() -> ThreadPoolExecutor:
    """Sender threads of this process (created lazily, so after a prefork worker forks)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.WEBHOOK_SENDER_THREADS,
                                       thread_name_prefix="webhook-sender",
                                       initializer=_sender_thread_start)
        return _pool


def _claim_work(claim: Claim) -> None:
    close_old_connections()
    try:
        if webhook_claim_send(claim) == "delivered":
            webhook_endpoint_drain(endpoint_id=claim.delivery.endpoint_id,
                                   limit=settings.WEBHOOK_DRAIN_LIMIT)
    except Exception:
        logger.exception("webhook delivery %s: worker error (the claim lapses and the "
                         "delivery is taken over)", claim.delivery.pk)


def webhook_deliveries_work(*, delivery_ids: list[int]) -> int:
    """What a sender thread does with one task message: claim what it can of the deliveries
    (one claim for all, e.g. every endpoint's copy of one event), send the first here and hand
    the others to the other sender threads; after a success, go on with that endpoint."""
    close_old_connections()
    try:
        claims = webhook_deliveries_claim(delivery_ids=delivery_ids, limit=len(delivery_ids))
    except Exception:
        logger.exception("webhook deliveries %s: claim failed (a re-drive hands them over "
                         "again)", delivery_ids)
        return 0
    for claim in claims[1:]:
        _sender_pool().submit(_claim_work, claim)
    if claims:
        _claim_work(claims[0])
    return len(claims)


def webhook_delivery_work(*, delivery_id: int) -> None:
    webhook_deliveries_work(delivery_ids=[delivery_id])


def webhook_sender_pool_shutdown() -> None:
    """Let this process's sender threads finish, close their database connections, and stop
    them. Each thread takes exactly one closing job: all wait at a barrier until every one has."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
        count = len(_pool_threads)
        _pool_threads.clear()
    if pool is None:
        return
    if count:
        barrier = threading.Barrier(count)

        def close() -> None:
            connections.close_all()
            barrier.wait(timeout=30)

        for _ in range(count):
            pool.submit(close)
    pool.shutdown(wait=True)


def webhook_delivery_submit(*, delivery_ids: list[int]) -> Future:
    """Hand deliveries to this process's sender threads and return at once: a Celery worker
    process is never held by a receiver's answer, however slow."""
    return _sender_pool().submit(webhook_deliveries_work, delivery_ids=delivery_ids)


def webhook_deliveries_due(*, limit: int = 500, endpoint_id: int | None = None,
                           now: datetime | None = None) -> list[int]:
    """Claimable deliveries to hand to the workers: at most the in-flight limit per endpoint
    (each worker then goes on with its endpoint), oldest due first."""
    now = now or timezone.now()
    capacity = settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT
    in_flight = _in_flight(now=now)
    taken: Counter[int] = Counter()
    chosen = []
    rows = webhook_deliveries_claimable(now=now)
    if endpoint_id is not None:
        rows = rows.filter(endpoint_id=endpoint_id)
    rows = rows.order_by("next_attempt_at", "pk").values_list("pk", "endpoint_id")[:limit * 4]
    for pk, endpoint in rows:
        if in_flight.get(endpoint, 0) + taken[endpoint] < capacity:
            taken[endpoint] += 1
            chosen.append(pk)
            if len(chosen) >= limit:
                break
    return chosen
