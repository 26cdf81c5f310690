"""Payout tasks: thin wrappers that send an attempt and sweep the unresolved ones.

The gateway drives its own transfers; these tasks let anything that records an attempt (the
worker-level tests, the benchmark, an operator's script) send it from a worker and rely on the
sweep to settle what a crash or a lost callback left open. Callback URLs are arguments because
only the caller knows where its callback endpoint is served; their templates take ``{rail_code}``
and ``{secret}`` (the rail's callback secret, which the endpoint checks).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from ramps.payouts.models import PayoutAttempt
from ramps.payouts.selectors import payout_attempts_unresolved
from ramps.payouts.services import (
    PayoutRailUnavailableError,
    payout_attempt_query,
    payout_attempt_submit,
    rail_callback_secret,
)

logger = logging.getLogger(__name__)


@shared_task(name="ramps.payouts.tasks.payout_attempt_send", acks_late=True)
def payout_attempt_send(attempt_id: int, result_url: str, timeout_url: str) -> str:
    """Send one attempt (a no-op unless it is ``created`` and due). Returns its status."""
    attempt = PayoutAttempt.objects.get(pk=attempt_id)
    try:
        attempt = payout_attempt_submit(attempt=attempt, result_url=result_url,
                                        timeout_url=timeout_url)
    except PayoutRailUnavailableError as exc:
        # Nothing was sent; the sweep tries again.
        logger.warning("Payout %s not sent: %s", attempt.reference, exc.detail)
    return attempt.status


@shared_task(name="ramps.payouts.tasks.payouts_resolve", acks_late=True)
def payouts_resolve(result_url_template: str, timeout_url_template: str,
                    older_than_seconds: float = 60.0, limit: int = 200) -> int:
    """Ask the provider about attempts left without a verdict, and send due ``created`` ones.

    The URL templates take ``{rail_code}`` and ``{secret}``. Returns how many attempts were
    looked at.
    """
    seen = 0
    unresolved = list(payout_attempts_unresolved(older_than_seconds=older_than_seconds)[:limit])
    due = list(PayoutAttempt.objects.filter(status=PayoutAttempt.Status.CREATED)
               .exclude(not_before__gt=timezone.now()).select_related("rail")
               .order_by("created_at")[:limit])
    for attempt in unresolved + due:
        names = {"rail_code": attempt.rail.code,
                 "secret": rail_callback_secret(rail=attempt.rail)}
        urls = {"result_url": result_url_template.format(**names),
                "timeout_url": timeout_url_template.format(**names)}
        try:
            if attempt.status == PayoutAttempt.Status.CREATED:
                payout_attempt_submit(attempt=attempt, **urls)
            else:
                payout_attempt_query(attempt=attempt, **urls)
        except PayoutRailUnavailableError as exc:
            logger.warning("Payout %s left for the next sweep: %s", attempt.reference, exc.detail)
        seen += 1
    return seen
