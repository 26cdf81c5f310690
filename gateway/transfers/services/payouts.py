"""Payouts: sending the recorded attempt once, acting on its outcome."""

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from gateway.ledger.models import LedgerAccount
from gateway.transfers.models import Corridor, Transfer, TransferEvent
from gateway.transfers.services.deposits import transfer_float_release_if_reserved
from gateway.transfers.services.machine import transfer_advance_enqueue, transfer_transition
from gateway.transfers.states import TransferState
from gateway.treasury.services import (
    treasury_float_commit,
)
from ramps.payouts.models import PayoutAttempt
from ramps.payouts.services import (
    PayoutRailUnavailableError,
    PayoutRetryDeadlineError,
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
)

logger = logging.getLogger(__name__)
S = TransferState
K = LedgerAccount.Kind


# --- payout ---------------------------------------------------------------------------------


def payout_callback_urls(*, rail_code: str) -> tuple[str, str]:
    base = settings.PUBLIC_BASE_URL
    return (base + reverse("payout-callback-result", kwargs={"rail_code": rail_code}),
            base + reverse("payout-callback-timeout", kwargs={"rail_code": rail_code}))


def transfer_live_attempt(*, transfer: Transfer) -> PayoutAttempt | None:
    return (PayoutAttempt.objects.filter(owner_reference=transfer.reference)
            .select_related("rail").order_by("-created_at", "-id").first())


def transfer_payout_drive(*, transfer_id: int) -> Transfer:
    """Send the recorded attempt once; resolve silence by asking the rail; act on the outcome."""
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state != S.PAYOUT_PENDING or (
        transfer.corridor.payout_method == Corridor.PayoutMethod.CASH_PICKUP
    ):
        return transfer  # cash pickup waits for the agent's confirmation, not for a rail
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        return transfer
    result_url, timeout_url = payout_callback_urls(rail_code=attempt.rail.code)
    if attempt.status == PayoutAttempt.Status.CREATED:
        try:
            attempt = payout_attempt_submit(attempt=attempt, result_url=result_url,
                                            timeout_url=timeout_url)
        except PayoutRailUnavailableError as exc:
            logger.warning("rail %s unreachable for transfer %s: %s", attempt.rail.code,
                           transfer.public_id, exc.detail)
            return transfer  # nothing was sent; the re-drive tries again
    elif attempt.status in (PayoutAttempt.Status.SUBMITTED, PayoutAttempt.Status.UNKNOWN):
        quiet_for = (timezone.now() - attempt.updated_at).total_seconds()
        if quiet_for >= settings.TRANSFER_STUCK_AFTER_SECONDS:
            attempt = payout_attempt_query(attempt=attempt, result_url=result_url,
                                           timeout_url=timeout_url)
    return transfer_payout_outcome(transfer_id=transfer.pk)


def transfer_payout_outcome(*, transfer_id: int) -> Transfer:
    """Act on the latest attempt's final status (idempotent: a final transfer stays put)."""
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state != S.PAYOUT_PENDING:
        return transfer
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        return transfer
    fiat = transfer.currency_out
    if attempt.status == PayoutAttempt.Status.SUCCEEDED:
        with transaction.atomic():
            locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
            if locked.state != S.PAYOUT_PENDING:
                return locked
            # Phase two of the float reservation: the payout leaves the reserved float
            # (debit the payout liability, credit the reserved float), in this transaction.
            treasury_float_commit(transfer_reference=transfer.reference,
                                  rail_code=attempt.rail.code, amount=transfer.amount_out,
                                  currency=fiat)
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.COMPLETED, actor=f"rail:{attempt.rail.code}",
                reason="recipient paid",
                data={"payout_reference": attempt.reference,
                      "provider_receipt": attempt.provider_receipt},
                expect_from=frozenset({S.PAYOUT_PENDING}),
            )
    if attempt.status == PayoutAttempt.Status.FAILED:
        if attempt.failure_kind == PayoutAttempt.FailureKind.RETRYABLE:
            with transaction.atomic():
                recipient = transfer.recipient or {}
                try:
                    with transaction.atomic():
                        retry = payout_attempt_create(
                            rail=attempt.rail, owner_reference=transfer.reference,
                            amount=transfer.amount_out, currency=fiat,
                            recipient_msisdn=recipient.get("phone_number", ""),
                            remarks=f"Remittance {str(transfer.public_id)[:8]}",
                        )
                except PayoutRetryDeadlineError as exc:
                    transfer_float_release_if_reserved(transfer_reference=transfer.reference)
                    return transfer_transition(
                        transfer_id=transfer.pk, to_state=S.PAYOUT_FAILED,
                        actor=f"rail:{attempt.rail.code}",
                        reason=f"payout retries exhausted: {exc.detail}"[:300],
                        data={"payout_reference": attempt.reference,
                              "failure_kind": "retryable", "deadline": True},
                        expect_from=frozenset({S.PAYOUT_PENDING}),
                    )
                TransferEvent.objects.create(
                    transfer=transfer, from_state=transfer.state, to_state=transfer.state,
                    reason=f"payout retry after {attempt.result_code}", actor="system",
                    data={"failed": attempt.reference, "retry": retry.reference},
                )
                wait = ((retry.not_before - timezone.now()).total_seconds()
                        if retry.not_before else None)
                transfer_advance_enqueue(transfer_id=transfer.pk,
                                         countdown=max(wait, 0.0) if wait else None)
            return transfer
        with transaction.atomic():
            locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
            if locked.state != S.PAYOUT_PENDING:
                return locked
            # Nothing left: the reserved float goes back to the free float.
            transfer_float_release_if_reserved(transfer_reference=transfer.reference)
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.PAYOUT_FAILED,
                actor=f"rail:{attempt.rail.code}",
                reason=f"payout failed: {attempt.result_code} {attempt.result_description}"[:300],
                data={"payout_reference": attempt.reference,
                      "failure_kind": attempt.failure_kind},
                expect_from=frozenset({S.PAYOUT_PENDING}),
            )
    return transfer
