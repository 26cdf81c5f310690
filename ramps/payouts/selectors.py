"""Payout reads."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from ramps.payouts.models import PayoutAttempt, Rail


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
