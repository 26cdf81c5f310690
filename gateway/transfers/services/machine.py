"""The state machine's one writer: ``transfer_transition`` and its outbox."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.common.problems import InvalidTransitionError
from gateway.ledger.services import (
    Leg,
    ledger_entry_post,
)
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.states import FINAL_STATES, TransferState, can_transition
from gateway.webhooks.services import transfer_event_type, webhook_event_enqueue
from ramps.chain.addresses import deposit_address_close

logger = logging.getLogger(__name__)


# --- the state machine ----------------------------------------------------------------------


def transfer_status_payload(transfer: Transfer) -> dict[str, Any]:
    """The transfer as ``GET /api/v1/transfers/{id}`` shows it (what every event carries)."""
    from gateway.webhooks.transfers import transfer_representation

    return transfer_representation(transfer_id=transfer.pk)


def transfer_transition(*, transfer_id: int, to_state: str, reason: str = "",
                        actor: str = "system", data: dict | None = None,
                        updates: dict[str, Any] | None = None,
                        ledger_reference: str = "", ledger_description: str = "",
                        legs: list[Leg] | None = None,
                        expect_from: frozenset[str] | None = None) -> Transfer:
    """Move a transfer to ``to_state`` in one transaction (history, ledger, outbox included).

    Raises ``InvalidTransitionError`` and changes nothing when the transition is not allowed
    from the state the row holds once locked (or not in ``expect_from`` when given).
    """
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        from_state = transfer.state
        if expect_from is not None and from_state not in expect_from:
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is {from_state}, expected one of "
                f"{sorted(expect_from)}."
            )
        if not can_transition(from_state, to_state):
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} cannot go from {from_state} to {to_state}."
            )
        now = timezone.now()
        transfer.state = to_state
        transfer.state_changed_at = now
        fields = ["state", "state_changed_at", "updated_at"]
        if from_state == TransferState.ON_HOLD and to_state != TransferState.ON_HOLD:
            # Leaving a hold clears every reason for it (``transfer_hold_clear`` decides when).
            transfer.holds, transfer.hold_reason = [], ""
            fields += ["holds", "hold_reason"]
        for name, value in (updates or {}).items():
            setattr(transfer, name, value)
            if name not in fields:
                fields.append(name)
        transfer.save(update_fields=fields)
        TransferEvent.objects.create(transfer=transfer, from_state=from_state, to_state=to_state,
                                     reason=reason[:300], actor=actor, data=data or {})
        if legs:
            ledger_entry_post(reference=ledger_reference, description=ledger_description,
                              legs=legs, owner_reference=transfer.reference)
        webhook_event_enqueue(partner_id=transfer.partner_id, transfer_id=transfer.pk,
                              event_type=transfer_event_type(to_state),
                              data=transfer_status_payload(transfer))
        if to_state not in FINAL_STATES:
            transfer_advance_enqueue(transfer_id=transfer.pk)
        taking_deposits = (TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN)
        if from_state in taking_deposits and to_state not in taking_deposits:
            # The address takes no more deposits: a late payment is recorded and flagged.
            deposit_address_close(deposit_address=transfer.deposit_address)
    return transfer


def transfer_advance_claim(*, transfer_ids: list[int]) -> list[int]:
    """The transfers among ``transfer_ids`` that have no advance queued, now marked as queued.

    One conditional UPDATE per transfer decides (two enqueuers cannot both win), so the queue
    holds at most one immediate advance per transfer however often the watcher, the re-drive and
    the transitions ask; the task clears the mark as it starts.
    """
    now = timezone.now()
    until = now + timedelta(seconds=settings.TRANSFER_ADVANCE_QUEUED_SECONDS)
    candidates = Transfer.objects.filter(pk__in=transfer_ids).filter(
        Q(advance_queued_until__isnull=True) | Q(advance_queued_until__lte=now)
    ).values_list("pk", flat=True)
    return [pk for pk in candidates if Transfer.objects.filter(pk=pk).filter(
        Q(advance_queued_until__isnull=True) | Q(advance_queued_until__lte=now)
    ).update(advance_queued_until=until)]


def transfer_advance_started(*, transfer_id: int) -> None:
    """The queued advance runs: a change from now on may queue the next one."""
    Transfer.objects.filter(pk=transfer_id).update(advance_queued_until=None)


def transfer_advance_enqueue(*, transfer_id: int, countdown: float | None = None) -> None:
    """Queue an advance after commit: with a countdown always (a retry's backoff), otherwise
    only when none is queued yet."""
    from gateway.transfers.tasks import transfer_advance

    if countdown:
        transaction.on_commit(lambda: transfer_advance.apply_async((transfer_id,),
                                                                   countdown=countdown))
    elif transfer_advance_claim(transfer_ids=[transfer_id]):
        transaction.on_commit(lambda: transfer_advance.delay(transfer_id))
