"""``Idempotency-Key`` handling with the IETF draft's semantics.

Same key + same request: the first answer is replayed. Same key + different request: 422.
Same key while the first request is still running: 409. The key is claimed in its own committed
transaction (a unique constraint decides between concurrent requests); the answer is stored in
the same transaction as the work it reports, so a crash cannot leave a transfer without its
recorded answer. A claim abandoned by a crash is taken over after ``ABANDONED_AFTER``.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.common.problems import DomainError, problem_body
from gateway.partners.models import Partner
from gateway.transfers.models import IdempotencyRecord

ABANDONED_AFTER = timedelta(seconds=60)


class IdempotencyKeyReusedError(DomainError):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key already used with another request"
    status = 422


class IdempotencyInFlightError(DomainError):
    slug = "idempotency-request-in-flight"
    title = "A request with this Idempotency-Key is still being processed"
    status = 409


class InvalidIdempotencyKeyError(DomainError):
    slug = "invalid-idempotency-key"
    title = "Invalid Idempotency-Key header"
    status = 400


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _claim(*, partner: Partner, key: str, method: str, path: str,
           fingerprint: str) -> IdempotencyRecord | None:
    """Claim the key. Returns None if claimed now, or the completed record to replay."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(partner=partner, key=key, method=method, path=path,
                                             request_fingerprint=fingerprint)
        return None
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(partner=partner, key=key)
        if record.request_fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was first used with a different request body or path."
            )
        if record.status == IdempotencyRecord.Status.COMPLETED:
            return record
        if timezone.now() - record.updated_at < ABANDONED_AFTER:
            raise IdempotencyInFlightError("Retry once the first request has been answered.")
        record.save(update_fields=["updated_at"])  # take over an abandoned claim
        return None


def idempotent_call(*, partner: Partner, key: str, method: str, path: str, body: Any,
                    work: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """Run ``work`` at most once per (partner, key); returns (status, body, replayed)."""
    if not key or len(key) > 255 or not key.isprintable():
        raise InvalidIdempotencyKeyError("Idempotency-Key must be 1-255 printable characters.")
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    record = _claim(partner=partner, key=key, method=method, path=path, fingerprint=fingerprint)
    if record is not None:
        return record.response_status, record.response_body, True
    try:
        with transaction.atomic():
            status, response = work()
            _complete(partner=partner, key=key, status=status, response=response)
        return status, response, False
    except DomainError as exc:
        response = problem_body(slug=exc.slug, title=exc.title, status=exc.status,
                                detail=exc.detail, instance=path, **exc.extra)
        with transaction.atomic():
            _complete(partner=partner, key=key, status=exc.status, response=response)
        return exc.status, response, False
    except BaseException:
        IdempotencyRecord.objects.filter(partner=partner, key=key,
                                         status=IdempotencyRecord.Status.IN_FLIGHT).delete()
        raise


def _complete(*, partner: Partner, key: str, status: int, response: dict) -> None:
    IdempotencyRecord.objects.filter(partner=partner, key=key).update(
        status=IdempotencyRecord.Status.COMPLETED, response_status=status,
        response_body=response, updated_at=timezone.now(),
    )
