"""Periodic work of cash pickup: codes nobody collected within their pickup window."""

import logging

from celery import shared_task

from ramps.payouts.agents.services import redemption_uncollected_handle, redemptions_uncollected

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def redemptions_uncollected_sweep() -> int:
    """Beat task: hand each expired, uncollected code to its corridor's rule."""
    handled = 0
    for redemption_id in redemptions_uncollected():
        redemption_uncollected_handle_task.delay(redemption_id)
        handled += 1
    return handled


@shared_task(acks_late=True)
def redemption_uncollected_handle_task(redemption_id: int) -> None:
    redemption_uncollected_handle(redemption_id=redemption_id)
