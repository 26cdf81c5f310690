"""Payout reads."""

from __future__ import annotations

import datetime
import hmac
import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils import timezone

from gateway.common.crypto import decrypt_text
from ramps.payouts.models import PayoutAttempt, PayoutCallback, PayoutStatusQuery, Rail

logger = logging.getLogger(__name__)


def rail_get_for_payout(*, country: str, currency: str) -> Rail | None:
    """The active rail paying ``currency`` in ``country`` (the first by code if several)."""
    return (Rail.objects.filter(country=country, currency=currency, is_active=True)
            .order_by("code").first())


def payout_attempt_live_for_owner(*, owner_reference: str) -> PayoutAttempt | None:
    return (PayoutAttempt.objects.filter(owner_reference=owner_reference,
                                         status__in=PayoutAttempt.LIVE_STATUSES)
            .select_related("rail").first())


def payout_attempts_for_owner(*, owner_reference: str) -> QuerySet[PayoutAttempt]:
    return PayoutAttempt.objects.filter(owner_reference=owner_reference).order_by("created_at")


def payout_attempts_unresolved(*, older_than_seconds: float) -> QuerySet[PayoutAttempt]:
    """Attempts sent (or maybe sent) that have had no verdict for a while: to query."""
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    return (PayoutAttempt.objects
            .filter(status__in=[PayoutAttempt.Status.SUBMITTED, PayoutAttempt.Status.UNKNOWN],
                    updated_at__lt=cutoff)
            .select_related("rail").order_by("updated_at"))


def payout_attempt_unsettled_for(*, attempt: PayoutAttempt) -> float | None:
    """Seconds since ``attempt`` was sent, when it is past its rail's
    ``unsettled_review_seconds`` without a verdict (still pending at the provider, or of unknown
    outcome) and the provider has been asked about it since; None otherwise."""
    if attempt.status not in (PayoutAttempt.Status.SUBMITTED, PayoutAttempt.Status.UNKNOWN):
        return None
    if attempt.submitted_at is None:
        return None
    unsettled_for = (timezone.now() - attempt.submitted_at).total_seconds()
    if unsettled_for < attempt.rail.unsettled_review_seconds:
        return None
    # An asynchronous provider (Daraja) must have been asked at least once; a synchronous one
    # (MoMo) is asked by whoever calls this, just before.
    from ramps.payouts.rails import rail_client

    if not rail_client(attempt.rail).synchronous_query and not PayoutStatusQuery.objects.filter(
            attempt=attempt).exists():
        return None
    return unsettled_for


def _accepted_secrets(rail: Rail) -> list[str]:
    """The rail's stored (encrypted) secrets that a callback may carry now."""
    stored = [rail.callback_secret] if rail.callback_secret else []
    until = rail.callback_secret_previous_until
    if rail.callback_secret_previous and until is not None and until > timezone.now():
        stored.append(rail.callback_secret_previous)
    return stored


def rail_for_callback(*, rail_code: str, secret: str) -> Rail | None:
    """The rail a callback URL names, if the URL carries its secret (the current one, or the one
    before it during its grace period); None for an unknown rail or a wrong or missing secret.

    Every accepted secret is compared, in constant time, whatever the result of the others.
    """
    rail = Rail.objects.filter(code=rail_code).first()
    if rail is None:
        return None
    given = secret.encode("utf-8", "surrogatepass")
    matched = False
    for stored in _accepted_secrets(rail):
        try:
            expected = decrypt_text(stored).encode()
        except (ValueError, ImproperlyConfigured) as exc:
            logger.error("Callback secret of rail %s cannot be decrypted: %s", rail.code, exc)
            continue
        matched |= hmac.compare_digest(expected, given)
    return rail if matched else None


@dataclass(frozen=True)
class RailCallbackSecretStatus:
    rail_code: str
    configured: bool
    readable: bool
    rotated_at: datetime.datetime | None
    previous_accepted_until: datetime.datetime | None

    @property
    def ok(self) -> bool:
        return self.configured and self.readable


def rail_callback_secrets_status() -> list[RailCallbackSecretStatus]:
    """For the health page: whether each active rail has a callback secret that this process can
    decrypt (a rail without one gets it when its first callback URL is built)."""
    statuses = []
    for rail in Rail.objects.filter(is_active=True).order_by("code"):
        readable = False
        if rail.callback_secret:
            try:
                decrypt_text(rail.callback_secret)
                readable = True
            except (ValueError, ImproperlyConfigured):
                readable = False
        until = rail.callback_secret_previous_until
        statuses.append(RailCallbackSecretStatus(
            rail_code=rail.code, configured=bool(rail.callback_secret), readable=readable,
            rotated_at=rail.callback_secret_rotated_at,
            previous_accepted_until=until if until and until > timezone.now() else None))
    return statuses


def rail_callback_secrets_summary() -> tuple[bool, str]:
    """(all fine, one line) for the operators' health page."""
    statuses = rail_callback_secrets_status()
    unreadable = [s.rail_code for s in statuses if s.configured and not s.readable]
    missing = [s.rail_code for s in statuses if not s.configured]
    if unreadable:
        return False, ("Payout callback secrets cannot be decrypted for "
                       f"{', '.join(unreadable)} (FIELD_ENCRYPTION_KEYS lost the key?): their "
                       "callbacks are refused until the secret is rotated.")
    text = f"Payout callback secrets: {len(statuses) - len(missing)} of {len(statuses)} active "
    text += "rails have one"
    if missing:
        text += f"; {', '.join(missing)} will get one with their first payout"
    return True, text + "."


def rails_all() -> QuerySet[Rail]:
    """Every configured rail, active or not, by code (the treasury reconciles them all)."""
    return Rail.objects.order_by("code")


def rail_get(*, code: str) -> Rail:
    """The rail with that code, active or not; ``Rail.DoesNotExist`` when there is none."""
    return Rail.objects.get(code=code)


def rail_get_active(*, code: str) -> Rail | None:
    """The rail with that code if it is active, else None."""
    return Rail.objects.filter(code=code, is_active=True).first()


def payout_attempt_latest_for_owner(*, owner_reference: str) -> PayoutAttempt | None:
    """The newest payout attempt for the owner (a transfer's reference), whatever its status,
    with its rail."""
    return (PayoutAttempt.objects.filter(owner_reference=owner_reference)
            .select_related("rail").order_by("-created_at", "-id").first())


def payout_attempts_for_owner_with_rail(*, owner_reference: str) -> QuerySet[PayoutAttempt]:
    """The owner's payout attempts with their rail, oldest first."""
    return (PayoutAttempt.objects.filter(owner_reference=owner_reference)
            .select_related("rail").order_by("created_at", "pk"))


def rails_active() -> QuerySet[Rail]:
    """Every active rail, by code."""
    return Rail.objects.filter(is_active=True).order_by("code")


def payout_attempts_created_between(
    *, start: datetime.datetime, end: datetime.datetime,
    owner_references: list[str] | QuerySet | None = None,
) -> QuerySet[PayoutAttempt]:
    """Attempts created in [start, end), only those of ``owner_references`` (a list, or a
    query of references for a subquery) if given."""
    attempts = PayoutAttempt.objects.filter(created_at__gte=start, created_at__lt=end)
    if owner_references is not None:
        attempts = attempts.filter(owner_reference__in=owner_references)
    return attempts


def payout_callbacks_unprocessed(*, limit: int) -> list[PayoutCallback]:
    """Up to ``limit`` provider callbacks that matched no attempt or failed to apply, with
    their rail, oldest first."""
    return list(PayoutCallback.objects.filter(
        processing_status__in=[PayoutCallback.ProcessingStatus.UNMATCHED,
                               PayoutCallback.ProcessingStatus.ERROR])
        .select_related("rail").order_by("created_at")[:limit])


def payout_attempts_unknown_since(*, before: datetime.datetime, limit: int
                                  ) -> list[PayoutAttempt]:
    """Up to ``limit`` attempts of unknown outcome created before ``before``, with their rail,
    oldest first."""
    return list(PayoutAttempt.objects.filter(
        status=PayoutAttempt.Status.UNKNOWN, created_at__lte=before).select_related(
        "rail").order_by("created_at")[:limit])
