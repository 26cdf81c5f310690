"""The driver: next steps, re-drive selection, operator decisions."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from compliance.models import ScreeningDecision
from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import Corridor, HoldKind, Transfer
from gateway.transfers.services.actions import transfer_payout_failed_review
from gateway.transfers.services.conversion import (
    transfer_convert_execute,
    transfer_convert_start,
)
from gateway.transfers.services.deposits import transfer_deposit_progress
from gateway.transfers.services.holds import holds_standing, transfer_hold_clear
from gateway.transfers.services.payouts import transfer_payout_drive
from gateway.transfers.services.refunds import transfer_refund_progress, transfer_refund_start
from gateway.transfers.services.screening import transfer_apply_decision, transfer_screen
from gateway.transfers.states import TransferState
from gateway.treasury.services import (
    treasury_float_available,
)

logger = logging.getLogger(__name__)


# --- the driver -----------------------------------------------------------------------------

def transfer_hold_review(*, transfer_id: int) -> Transfer:
    """A held compliance case decided elsewhere (the admin, a case queue with maker-checker)
    leaves a superseding decision; apply it to the transfer. Idempotent."""
    transfer = Transfer.objects.select_related("compliance_decision", "corridor__rail").get(
        pk=transfer_id)
    held = transfer.compliance_decision
    if (HoldKind.FLOAT in holds_standing(transfer)
            and transfer.corridor.rail is not None
            and treasury_float_available(rail_code=transfer.corridor.rail.code,
                                         currency=transfer.currency_out) >= transfer.amount_out):
        # Held for float, and the float has been topped up: that hold clears by itself.
        transfer = transfer_hold_clear(transfer_id=transfer.pk, kinds=frozenset({HoldKind.FLOAT}),
                                       actor="treasury", reason="float topped up")
    if HoldKind.COMPLIANCE not in holds_standing(transfer) or held is None or (
        held.outcome != ScreeningDecision.Outcome.HOLD
    ):
        return transfer
    decided = ScreeningDecision.objects.filter(supersedes=held).first()
    if decided is None:
        return transfer
    return transfer_apply_decision(transfer_id=transfer.pk, decision=decided,
                                   actor=f"operator:{decided.decided_by}")


_STEPS = {
    TransferState.AWAITING_DEPOSIT: lambda pk: transfer_deposit_progress(transfer_id=pk),
    TransferState.ON_HOLD: lambda pk: transfer_hold_review(transfer_id=pk),
    TransferState.DEPOSIT_SEEN: lambda pk: transfer_deposit_progress(transfer_id=pk),
    TransferState.FUNDED: lambda pk: transfer_screen(transfer_id=pk),
    TransferState.APPROVED: lambda pk: transfer_convert_start(transfer_id=pk),
    TransferState.CONVERTING: lambda pk: transfer_convert_execute(transfer_id=pk),
    TransferState.PAYOUT_PENDING: lambda pk: transfer_payout_drive(transfer_id=pk),
    TransferState.PAYOUT_REVIEW: lambda pk: transfer_payout_drive(transfer_id=pk),
    TransferState.PAYOUT_FAILED: lambda pk: transfer_payout_failed_review(transfer_id=pk),
    TransferState.REJECTED: lambda pk: transfer_refund_start(transfer_id=pk),
    TransferState.REFUND_PENDING: lambda pk: transfer_refund_progress(transfer_id=pk),
}


def transfer_advance(*, transfer_id: int, max_steps: int = 10) -> Transfer:
    """Run the next steps of a transfer until it waits on the outside world or is final.

    Safe to call any number of times, from any number of workers: each step re-reads the state
    under a row lock and does nothing if another worker moved it first.
    """
    transfer = Transfer.objects.get(pk=transfer_id)
    for _ in range(max_steps):
        step = _STEPS.get(transfer.state)
        if step is None:
            return transfer
        before = transfer.state
        try:
            transfer = step(transfer.pk)
        except InvalidTransitionError:
            transfer = Transfer.objects.get(pk=transfer_id)  # another worker won; re-read
        if transfer.state == before:
            return transfer
    return transfer


def transfers_stuck(*, older_than_seconds: int) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = {TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN}
    active = Transfer.objects.filter(
        state__in=set(_STEPS) - waiting - {TransferState.ON_HOLD, TransferState.PAYOUT_FAILED},
        updated_at__lte=cutoff,
    ).exclude(state=TransferState.PAYOUT_PENDING,
              payout_method=Corridor.PayoutMethod.CASH_PICKUP).exclude(
        state=TransferState.PAYOUT_PENDING, payout_method="",
        corridor__payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    # Failed payouts wait for the sender until their corridor's correction window closes.
    now = timezone.now()
    correction_over = {pk for pk, changed, window in Transfer.objects.filter(
        state=TransferState.PAYOUT_FAILED, updated_at__lte=cutoff).values_list(
        "pk", "state_changed_at", "corridor__correction_window")[:1000] if changed + window <= now}
    expiring = Transfer.objects.filter(state__in=waiting, deposit_expires_at__lte=timezone.now())
    decided = Transfer.objects.filter(
        state=TransferState.ON_HOLD, compliance_decision__outcome=ScreeningDecision.Outcome.HOLD,
    ).filter(Exists(ScreeningDecision.objects.filter(supersedes=OuterRef("compliance_decision"))))
    # Float holds clear themselves once topped up (JSON containment is not portable to the
    # demo's SQLite: the few held rows are filtered here).
    float_held = {transfer.pk for transfer in Transfer.objects.filter(
        state=TransferState.ON_HOLD, updated_at__lte=cutoff,
    ).only("pk", "state", "holds", "hold_reason")[:1000]
        if HoldKind.FLOAT in holds_standing(transfer)}
    return sorted(set(active.values_list("pk", flat=True)[:1000]) | float_held | correction_over
                  | set(expiring.values_list("pk", flat=True)[:1000])
                  | set(decided.values_list("pk", flat=True)[:1000]))


def operator_decide(*, transfer_id: int, approve: bool, operator: str, note: str) -> Transfer:
    """An operator's decision on a held transfer, recorded as a new compliance decision."""
    from compliance.services import screening_decide_manually

    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    if transfer.state != TransferState.ON_HOLD or transfer.compliance_decision is None:
        raise InvalidTransitionError("Only a transfer held by compliance can be decided.")
    with transaction.atomic():
        screening_decide_manually(
            decision=transfer.compliance_decision,
            outcome=(ScreeningDecision.Outcome.APPROVE if approve
                     else ScreeningDecision.Outcome.REJECT),
            operator=operator, note=note,
        )
        return transfer_hold_review(transfer_id=transfer.pk)
