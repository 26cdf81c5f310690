"""Holds that stack: a transfer is held for one or more reasons and released only when every
one of them is cleared.

``Transfer.holds`` lists the standing reasons (``HoldKind`` codes); ``hold_reason`` keeps the
operators' text. Adding a reason to a transfer already on hold writes a history row in the same
transaction; clearing the last one moves the transfer on through ``transfer_transition``.
"""

from typing import Any

from django.db import transaction

from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import HoldKind, Transfer, TransferEvent
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState


def holds_standing(transfer: Transfer) -> list[str]:
    """The reasons a transfer is held. A row held before reasons were listed (``holds`` empty)
    is read from its ``hold_reason``, as the migration that added the list did."""
    if transfer.state != TransferState.ON_HOLD:
        return []
    if transfer.holds:
        return list(transfer.holds)
    reason = transfer.hold_reason
    if reason.startswith("underpaid"):
        return [HoldKind.UNDERPAID]
    if reason.startswith("insufficient rail float"):
        return [HoldKind.FLOAT]
    if reason.startswith("conversion"):
        return [HoldKind.CONVERSION]
    if reason.startswith("deep chain reorganisation"):
        return [HoldKind.REORG]
    return [HoldKind.COMPLIANCE]


def _joined(current: str, reason: str) -> str:
    return (f"{current}; {reason}" if current else reason)[:300]


def transfer_hold(*, transfer_id: int, kind: str, reason: str, actor: str,
                  data: dict | None = None, updates: dict[str, Any] | None = None,
                  expect_from: frozenset[str] | None = None, label: str = "") -> Transfer:
    """Hold the transfer for ``kind``; a transfer already on hold keeps its other reasons.
    ``label`` is the operators' short text for the hold (``reason`` when empty).

    Raises ``InvalidTransitionError`` (nothing written) when the state cannot be held.
    """
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        if transfer.state != TransferState.ON_HOLD:
            return transfer_transition(
                transfer_id=transfer.pk, to_state=TransferState.ON_HOLD, actor=actor, reason=reason,
                data=data, expect_from=expect_from,
                updates={**(updates or {}), "holds": [kind],
                         "hold_reason": (label or reason)[:300]})
        for name, value in (updates or {}).items():
            setattr(transfer, name, value)
        standing = holds_standing(transfer)
        if kind not in standing:
            transfer.holds = [*standing, kind]
            transfer.hold_reason = _joined(transfer.hold_reason, label or reason)
        transfer.save(update_fields=["holds", "hold_reason", "updated_at", *(updates or {})])
        TransferEvent.objects.create(transfer=transfer, from_state=TransferState.ON_HOLD,
                                     to_state=TransferState.ON_HOLD,
                                     reason=f"also held: {reason}"[:300], actor=actor,
                                     data={**(data or {}), "holds": transfer.holds})
        return transfer


def transfer_hold_clear(*, transfer_id: int, kinds: frozenset[str], actor: str, reason: str,
                        to_state: str = TransferState.APPROVED, data: dict | None = None,
                        updates: dict[str, Any] | None = None) -> Transfer:
    """Clear the holds in ``kinds`` (at least one must stand); with none left the transfer
    moves to ``to_state``, otherwise it stays on hold for the rest. ``updates`` apply either way.
    """
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().get(pk=transfer_id)
        holds = holds_standing(transfer)
        standing = [kind for kind in holds if kind in kinds]
        if not standing:
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is not held for "
                f"{' or '.join(sorted(kinds))} (state {transfer.state}, holds "
                f"{', '.join(holds) or 'none'}).")
        remaining = [kind for kind in holds if kind not in kinds]
        if not remaining:
            return transfer_transition(
                transfer_id=transfer.pk, to_state=to_state, actor=actor, reason=reason,
                data={**(data or {}), "cleared": standing},
                updates={**(updates or {}), "holds": [], "hold_reason": ""},
                expect_from=frozenset({TransferState.ON_HOLD}))
        for name, value in (updates or {}).items():
            setattr(transfer, name, value)
        transfer.holds = remaining
        transfer.save(update_fields=["holds", "updated_at", *(updates or {})])
        TransferEvent.objects.create(
            transfer=transfer, from_state=TransferState.ON_HOLD, to_state=TransferState.ON_HOLD,
            reason=f"cleared {', '.join(standing)}: {reason}; still held for "
                   f"{', '.join(remaining)}"[:300],
            actor=actor, data={**(data or {}), "cleared": standing, "holds": remaining})
        return transfer


def transfer_holds_refuse(*, transfer: Transfer, kinds: frozenset[str], action: str) -> None:
    """Refuse ``action`` while one of ``kinds`` stands (a reorg hold: the funding is gone)."""
    standing = sorted(set(holds_standing(transfer)) & kinds)
    if standing:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} cannot be {action} while it is held for "
            f"{', '.join(standing)}: {HoldKind(standing[0]).label}.")
