"""Thin Celery tasks: take ids, call one service. Enqueued on commit; re-driven periodically."""

import logging

from celery import shared_task
from django.conf import settings

from gateway.transfers.services.driver import transfer_advance as transfer_advance_service
from gateway.transfers.services.driver import transfers_stuck
from gateway.transfers.services.machine import (
    transfer_advance_started,
    transfers_advance_enqueue,
)
from gateway.transfers.watch import chain_poll

logger = logging.getLogger(__name__)

# Only errors that a later try can fix are retried: network trouble talking to a venue, a rail
# or the node. Validation and domain errors are final for the task (the state records them).
TRANSIENT_ERRORS = (ConnectionError, TimeoutError, OSError)


@shared_task(name="gateway.transfers.tasks.transfer_advance", autoretry_for=TRANSIENT_ERRORS,
             retry_backoff=2, retry_backoff_max=60, max_retries=8)
def transfer_advance(transfer_id: int) -> str:
    transfer_advance_started(transfer_id=transfer_id)
    return transfer_advance_service(transfer_id=transfer_id).state


@shared_task(name="gateway.transfers.tasks.transfers_redrive")
def transfers_redrive() -> int:
    """Re-enqueue transfers that sat in a non-final state too long (a lost message, a crash)."""
    stuck = transfers_stuck(older_than_seconds=settings.TRANSFER_STUCK_AFTER_SECONDS)
    return transfers_advance_enqueue(transfer_ids=stuck)


@shared_task(name="gateway.transfers.tasks.chains_poll")
def chains_poll() -> int:
    """Scan every active chain once and hand what changed to the transfers it concerns."""
    from ramps.chain.selectors import chains_active

    touched = 0
    for chain_pk in chains_active().values_list("pk", flat=True):
        touched += transfers_advance_enqueue(transfer_ids=chain_poll(chain_id=chain_pk))
    return touched
