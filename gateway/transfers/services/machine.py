"""The state machine's one writer: ``transfer_step`` (lock, check, apply, transition) and the
advance queue.

Every change of ``Transfer.state`` is a ``Move`` written by ``transfer_step`` in one database
transaction: the row is locked, its state checked (against ``expect_from`` and
``gateway.transfers.states.TRANSITIONS``), the caller's ``apply`` runs under the lock (the
facts of other apps it records: a credited deposit, a payout attempt, a refund) and says where
the transfer goes, then the move is written: the fields it may set (``FIELDS_SET_ON_ENTRY``),
the history row, the ledger entry (``Entry``: the one way a step writes to the ledger), the rail
float operation, the webhook outbox row and, after commit, the next advance.

A move that stays in its state (a hold stacked on a hold, a payout retry recorded) writes its
history row the same way, without a webhook.

The next advance is queued from here only, after commit, and never for the transfer the driver
(``gateway.transfers.services.driver``) is running: the driver's loop goes on itself, so a
transfer has one driver at a time (see that module's docstring).
"""

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.common.conflicts import conflicts_retried
from gateway.common.problems import InvalidTransitionError
from gateway.ledger.services import Leg, ledger_entry_post
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.states import (
    FIELDS_SET_ON_ENTRY,
    FINAL_STATES,
    TransferState,
    can_transition,
)
from gateway.treasury.services import (
    FloatShortError,
    treasury_float_commit,
    treasury_float_release,
    treasury_float_reserve,
)
from gateway.webhooks.services import transfer_event_type, webhook_event_enqueue
from ramps.chain.addresses import deposit_address_close

logger = logging.getLogger(__name__)

# Rail float operations a move may carry (``Move.float_operation``), applied after its entry.
# A reservation that must succeed for the step to go on (the payout's, once converted) is made
# by the step before it chooses its move, since a short float changes where the transfer goes.
FLOAT_RESERVE = "reserve"  # reserve the payout if the float allows (funding); short is logged
FLOAT_COMMIT = "commit"  # the payout left the reserved float
FLOAT_RELEASE = "release"  # the reservation, if any, goes back to the free float
FLOAT_OPERATIONS = frozenset({FLOAT_RESERVE, FLOAT_COMMIT, FLOAT_RELEASE})

_TAKING_DEPOSITS = frozenset({TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN})


@dataclass(frozen=True)
class Entry:
    """The journal entry a move posts, referenced ``transfer:<public id>:<event>``."""

    event: str  # "funding", "conversion", "refund", "funding-lost", "payout"
    description: str
    legs: tuple[Leg, ...]


@dataclass(frozen=True)
class Move:
    """Where a transfer goes and what the move writes with it (see the module docstring)."""

    to_state: str
    reason: str = ""
    actor: str = "system"
    data: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)  # fields of FIELDS_SET_ON_ENTRY only
    entry: Entry | None = None
    float_operation: str = ""  # one of FLOAT_OPERATIONS
    float_rail_code: str = ""  # the rail the payout was committed on (checked against the float)
    retry_after: float | None = None  # a move that stays: run the step again in N seconds


class StepContractError(RuntimeError):
    """A step moved a transfer in a way its row of the step table does not declare: a bug,
    so the transaction rolls back and the step is not taken."""


# The driver's run: (transfer id, check) while ``transfer_advance`` drives that transfer. The
# check is the step table's contract for a move out of a state (``driver.STEPS``).
_driving: ContextVar[tuple[int, Callable[[str, Move], None]] | None] = ContextVar(
    "transfer_driving", default=None)


@contextmanager
def driving(*, transfer_id: int, check: Callable[[str, Move], None]) -> Iterator[None]:
    """Mark the current context as the driver of ``transfer_id``: moves of it queue no advance
    (the driver goes on itself) and are checked against the step table by ``check``."""
    token = _driving.set((transfer_id, check))
    try:
        yield
    finally:
        _driving.reset(token)


def transfer_status_payload(transfer: Transfer) -> dict[str, Any]:
    """The transfer as ``GET /api/v1/transfers/{id}`` shows it (what every event carries).

    The API's own selector and serializer are called (not copied), so an event and the API never
    disagree about a transfer; the result goes through JSON once so that it is stored as sent.
    """
    from gateway.transfers.selectors import transfer_get_for_partner
    from gateway.transfers.serializers import TransferResponseSerializer

    partner = Transfer.objects.select_related("partner").get(pk=transfer.pk).partner
    shown = transfer_get_for_partner(partner=partner, public_id=str(transfer.public_id))
    return json.loads(json.dumps(TransferResponseSerializer(shown).data, cls=DjangoJSONEncoder))


def transfer_step(*, transfer_id: int, apply: Callable[[Transfer], Move | None],
                  expect_from: frozenset[str] | None = None,
                  lost_race: str = "raise") -> Transfer:
    """Lock the transfer, check its state, run ``apply`` under the lock and write the move it
    returns, in one transaction (the caller's, when there is one).

    ``expect_from``: the states the step starts from. When the locked row is in another state
    (another worker moved it first) nothing is written: ``InvalidTransitionError`` is raised, or
    with ``lost_race="return"`` the transfer is returned as it is. ``apply`` returning None
    writes nothing either (the step has nothing to do yet).

    Where the step owns its transaction, a deadlock or serialization failure (the transfer's
    partner's feed counter is taken by every move) runs the whole step again, ``apply``
    included: ``apply`` only reads and writes the database.
    """
    return conflicts_retried(
        lambda: _transfer_step(transfer_id=transfer_id, apply=apply, expect_from=expect_from,
                               lost_race=lost_race),
        what=f"step of transfer {transfer_id}")


def _transfer_step(*, transfer_id: int, apply: Callable[[Transfer], Move | None],
                   expect_from: frozenset[str] | None, lost_race: str) -> Transfer:
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update(of=("self",)).get(pk=transfer_id)
        if expect_from is not None and transfer.state not in expect_from:
            if lost_race == "return":
                return transfer
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is {transfer.state}, expected one of "
                f"{sorted(expect_from)}."
            )
        move = apply(transfer)
        if move is None:
            return transfer
        return _move_write(transfer, move)


def transfer_transition(*, transfer_id: int, to_state: str, reason: str = "",
                        actor: str = "system", data: dict | None = None,
                        updates: dict[str, Any] | None = None, entry: Entry | None = None,
                        float_operation: str = "",
                        expect_from: frozenset[str] | None = None) -> Transfer:
    """Move a transfer to ``to_state`` with nothing to apply first (``transfer_step``)."""
    move = Move(to_state=to_state, reason=reason, actor=actor, data=data or {},
                changes=updates or {}, entry=entry, float_operation=float_operation)

    def apply(transfer: Transfer) -> Move:
        if transfer.state == to_state:  # staying is a step's own move, never a transition
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} cannot go from {to_state} to {to_state}.")
        return move

    return transfer_step(transfer_id=transfer_id, expect_from=expect_from, apply=apply)


def _move_write(transfer: Transfer, move: Move) -> Transfer:
    from_state, to_state = transfer.state, move.to_state
    stays = to_state == from_state
    if not stays and not can_transition(from_state, to_state):
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} cannot go from {from_state} to {to_state}."
        )
    allowed = FIELDS_SET_ON_ENTRY.get(to_state, frozenset())
    refused = sorted(set(move.changes) - allowed)
    if refused:
        raise StepContractError(f"A move to {to_state} may not set {', '.join(refused)}.")
    if move.float_operation and move.float_operation not in FLOAT_OPERATIONS:
        raise StepContractError(f"Unknown float operation {move.float_operation!r}.")
    driver = _driving.get()
    driven = driver is not None and driver[0] == transfer.pk
    if driven:
        driver[1](from_state, move)
    fields = ["updated_at"]
    if not stays:
        transfer.state = to_state
        transfer.state_changed_at = timezone.now()
        fields += ["state", "state_changed_at"]
        if from_state == TransferState.ON_HOLD:
            # Leaving a hold clears every reason for it (``transfer_hold_clear`` decides when).
            transfer.holds, transfer.hold_reason = [], ""
            fields += ["holds", "hold_reason"]
    for name, value in move.changes.items():
        setattr(transfer, name, value)
        if name not in fields:
            fields.append(name)
    transfer.save(update_fields=fields)
    TransferEvent.objects.create(transfer=transfer, from_state=from_state, to_state=to_state,
                                 reason=move.reason[:300], actor=move.actor, data=move.data)
    if move.entry is not None:
        ledger_entry_post(reference=f"transfer:{transfer.public_id}:{move.entry.event}",
                          description=move.entry.description, legs=list(move.entry.legs),
                          owner_reference=transfer.reference)
    if move.float_operation == FLOAT_RESERVE:
        transfer_float_reserve_if_free(transfer=transfer)
    elif move.float_operation == FLOAT_COMMIT:
        treasury_float_commit(transfer_reference=transfer.reference,
                              rail_code=move.float_rail_code, amount=transfer.amount_out,
                              currency=transfer.currency_out)
    elif move.float_operation == FLOAT_RELEASE:
        transfer_float_release_if_reserved(transfer_reference=transfer.reference)
    if move.retry_after is not None:
        transfer_advance_enqueue(transfer_id=transfer.pk, countdown=max(move.retry_after, 0.0))
    if stays:
        return transfer
    webhook_event_enqueue(partner_id=transfer.partner_id, transfer_id=transfer.pk,
                          event_type=transfer_event_type(to_state),
                          data=transfer_status_payload(transfer))
    if to_state not in FINAL_STATES and not driven:
        transfer_advance_enqueue(transfer_id=transfer.pk)
    if from_state in _TAKING_DEPOSITS and to_state not in _TAKING_DEPOSITS:
        # The address takes no more deposits: a late payment is recorded and flagged.
        deposit_address_close(deposit_address=transfer.deposit_address)
    return transfer


def transfer_float_reserve_if_free(*, transfer: Transfer) -> bool:
    """Reserve the payout on the rail's float as soon as the money is in (two-phase: committed
    at payout, released on failure). Short float does not stop funding: the transfer goes on
    and the reservation is tried again before the payout is sent."""
    rail = transfer.corridor.rail
    if rail is None:
        return False
    try:
        with transaction.atomic():
            treasury_float_reserve(transfer_reference=transfer.reference, rail_code=rail.code,
                                   amount=transfer.amount_out, currency=transfer.currency_out)
    except FloatShortError:
        logger.warning("float short on %s at funding of %s", rail.code, transfer.public_id)
        return False
    return True


def transfer_float_release_if_reserved(*, transfer_reference: str) -> None:
    """Give a reservation back to the free float (a rejected or failed transfer pays nothing)."""
    from gateway.treasury.models import FloatReservation

    if FloatReservation.objects.filter(transfer_reference=transfer_reference,
                                       status=FloatReservation.Status.RESERVED).exists():
        treasury_float_release(transfer_reference=transfer_reference)


# --- the advance queue ----------------------------------------------------------------------


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
    transfers_advance_enqueue(transfer_ids=[transfer_id], countdown=countdown)


def transfers_advance_enqueue(*, transfer_ids: list[int], countdown: float | None = None) -> int:
    """The one place that queues advances (moves, the driver, the re-drive, the chain poll):
    after commit, at most one immediate advance per transfer. Returns how many were queued."""
    from gateway.transfers.tasks import transfer_advance

    if countdown:
        for pk in transfer_ids:
            transaction.on_commit(lambda pk=pk: transfer_advance.apply_async(
                (pk,), countdown=countdown))
        return len(transfer_ids)
    queued = transfer_advance_claim(transfer_ids=transfer_ids)
    for pk in queued:
        transaction.on_commit(lambda pk=pk: transfer_advance.delay(pk))
    return len(queued)
