"""Holds that stack: a transfer is held for one or more reasons and released only when every
one of them is cleared.

``Transfer.holds`` lists the standing reasons (``HoldKind`` codes); ``hold_reason`` keeps the
operators' text. Adding a reason to a transfer already on hold is a move that stays on hold
(a history row, no webhook); clearing the last one moves the transfer on. Both go through
``transfer_step``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.machine import Entry, Move, transfer_step
from gateway.transfers.states import TransferState

if TYPE_CHECKING:
    from compliance.models import ScreeningDecision


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
                  data: dict | None = None, compliance_decision: ScreeningDecision | None = None,
                  entry: Entry | None = None, expect_from: frozenset[str] | None = None,
                  label: str = "") -> Transfer:
    """Hold the transfer for ``kind``; a transfer already on hold keeps its other reasons.
    ``label`` is the operators' short text for the hold (``reason`` when empty); ``entry`` is
    the ledger entry of the step that holds it (a conversion booked before a float hold).

    Raises ``InvalidTransitionError`` (nothing written) when the state cannot be held, or when
    a transfer not yet held is in none of ``expect_from``.
    """
    changes: dict = {} if compliance_decision is None else {
        "compliance_decision": compliance_decision}

    def hold(transfer: Transfer) -> Move:
        if transfer.state != TransferState.ON_HOLD:
            if expect_from is not None and transfer.state not in expect_from:
                raise InvalidTransitionError(
                    f"Transfer {transfer.public_id} is {transfer.state}, expected one of "
                    f"{sorted(expect_from)}.")
            return Move(to_state=TransferState.ON_HOLD, actor=actor, reason=reason,
                        data=data or {}, entry=entry,
                        changes={**changes, "holds": [kind],
                                 "hold_reason": (label or reason)[:300]})
        holds, hold_reason = holds_standing(transfer), transfer.hold_reason
        if kind not in holds:
            holds, hold_reason = [*holds, kind], _joined(hold_reason, label or reason)
        return Move(to_state=TransferState.ON_HOLD, actor=actor,
                    reason=f"also held: {reason}"[:300], data={**(data or {}), "holds": holds},
                    entry=entry,
                    changes={**changes, "holds": holds, "hold_reason": hold_reason})

    return transfer_step(transfer_id=transfer_id, apply=hold)


def transfer_hold_clear(*, transfer_id: int, kinds: frozenset[str], actor: str, reason: str,
                        to_state: str = TransferState.APPROVED, data: dict | None = None,
                        compliance_decision: ScreeningDecision | None = None) -> Transfer:
    """Clear the holds in ``kinds`` (at least one must stand); with none left the transfer
    moves to ``to_state``, otherwise it stays on hold for the rest. ``compliance_decision``
    is recorded either way.
    """
    changes: dict = {} if compliance_decision is None else {
        "compliance_decision": compliance_decision}

    def clear(transfer: Transfer) -> Move:
        holds = holds_standing(transfer)
        standing = [kind for kind in holds if kind in kinds]
        if not standing:
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is not held for "
                f"{' or '.join(sorted(kinds))} (state {transfer.state}, holds "
                f"{', '.join(holds) or 'none'}).")
        remaining = [kind for kind in holds if kind not in kinds]
        if not remaining:
            return Move(to_state=to_state, actor=actor, reason=reason,
                        data={**(data or {}), "cleared": standing}, changes=changes)
        return Move(to_state=TransferState.ON_HOLD, actor=actor,
                    reason=f"cleared {', '.join(standing)}: {reason}; still held for "
                           f"{', '.join(remaining)}"[:300],
                    data={**(data or {}), "cleared": standing, "holds": remaining},
                    changes={**changes, "holds": remaining})

    return transfer_step(transfer_id=transfer_id, apply=clear)


def transfer_holds_refuse(*, transfer: Transfer, kinds: frozenset[str], action: str) -> None:
    """Refuse ``action`` while one of ``kinds`` stands (a reorg hold: the funding is gone)."""
    standing = sorted(set(holds_standing(transfer)) & kinds)
    if standing:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} cannot be {action} while it is held for "
            f"{', '.join(standing)}: {HoldKind(standing[0]).label}.")
