"""Crediting: the gateway's record that a final deposit paid for something.

The chain side only guards the fact (at most once, only when final, never as well as a
refund); what the credit is worth is written by the caller, in the same transaction.
"""

from django.db import transaction
from django.utils import timezone

from ramps.chain.errors import (
    DepositAlreadyCreditedError,
    DepositAlreadyRefundedError,
    DepositNotConfirmedError,
)
from ramps.chain.models import Deposit, OutboundTransaction


def deposit_mark_credited(*, deposit: Deposit) -> None:
    """Record that the gateway credited ``deposit``: at most once, and only when final.

    Must run inside the caller's transaction, the one that also writes the credit, so that
    the mark and the credit commit together or not at all.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("deposit_mark_credited must run inside the crediting transaction")
    locked = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if locked.status != Deposit.Status.CONFIRMED:
        raise DepositNotConfirmedError(
            f"Deposit {locked.pk} is {locked.status}, not confirmed.",
            extra={"deposit_status": locked.status},
        )
    if locked.credited_at is not None:
        raise DepositAlreadyCreditedError(f"Deposit {locked.pk} is already credited.")
    if OutboundTransaction.objects.filter(deposit=locked, kind=OutboundTransaction.Kind.REFUND
                                          ).exclude(status=OutboundTransaction.Status.FAILED
                                                    ).exists():
        # Refunds lock the deposit row too: a deposit is credited or refunded, never both.
        raise DepositAlreadyRefundedError(f"Deposit {locked.pk} is being refunded.")
    locked.credited_at = timezone.now()
    locked.save(update_fields=["credited_at", "updated_at"])
    deposit.status = locked.status
    deposit.credited_at = locked.credited_at
