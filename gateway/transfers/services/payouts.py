"""Payouts: sending the recorded attempt once, acting on its outcome."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from compliance.models import ScreeningDecision
from compliance.selectors import screening_decision_latest
from gateway.common.money import money_round_down
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.transfers.models import Corridor, Transfer
from gateway.transfers.services.machine import (
    FLOAT_COMMIT,
    FLOAT_RELEASE,
    Move,
    transfer_step,
    transfer_transition,
)
from gateway.transfers.services.party_search import transfer_party_indexes
from gateway.transfers.services.quotes import InvalidRecipientError, recipient_phone_validate
from gateway.transfers.services.screening import transfer_correction_screen
from gateway.transfers.states import TransferState
from gateway.treasury.models import FloatReservation
from gateway.treasury.services import (
    treasury_float_release,
    treasury_float_reserve,
)
from ramps.payouts.models import PayoutAttempt
from ramps.payouts.selectors import (
    payout_attempt_latest_for_owner,
    payout_attempt_unsettled_for,
    rail_get,
    rail_get_active,
)
from ramps.payouts.services import (
    PayoutRailUnavailableError,
    PayoutRetryDeadlineError,
    payout_attempt_create,
    payout_attempt_query,
    payout_attempt_submit,
    rail_callback_secret,
)

if TYPE_CHECKING:
    from ramps.payouts.models import Rail

logger = logging.getLogger(__name__)


# --- payout ---------------------------------------------------------------------------------


def payout_callback_urls(*, rail_code: str) -> tuple[str, str]:
    """Result and timeout URLs of the rail, each carrying the rail's callback secret."""
    rail = rail_get(code=rail_code)
    kwargs = {"rail_code": rail_code, "secret": rail_callback_secret(rail=rail)}
    base = settings.PUBLIC_BASE_URL
    return (base + reverse("payout-callback-result", kwargs=kwargs),
            base + reverse("payout-callback-timeout", kwargs=kwargs))


def transfer_live_attempt(*, transfer: Transfer) -> PayoutAttempt | None:
    return payout_attempt_latest_for_owner(owner_reference=transfer.reference)


# The states in which a mobile-money attempt is out with the provider, awaiting its verdict.
_PAYOUT_OUT = frozenset({TransferState.PAYOUT_PENDING, TransferState.PAYOUT_REVIEW})


def transfer_payout_drive(*, transfer_id: int) -> Transfer:
    """Send the recorded attempt once; resolve silence by asking the rail; act on the outcome.

    A payout the provider still reports pending (or cannot report on) past its rail's
    ``unsettled_review_seconds`` goes to ``payout_review`` for an operator; the queries go on
    there, and the provider's verdict still completes or fails it.
    """
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state not in _PAYOUT_OUT or (
        transfer_payout_method(transfer) == Corridor.PayoutMethod.CASH_PICKUP
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
            try:
                attempt = payout_attempt_query(attempt=attempt, result_url=result_url,
                                               timeout_url=timeout_url)
            except PayoutRailUnavailableError as exc:
                logger.warning("transfer %s: status query not answered: %s",
                               transfer.public_id, exc.detail)
    transfer = transfer_payout_outcome(transfer_id=transfer.pk)
    if transfer.state == TransferState.PAYOUT_PENDING:
        unsettled_for = payout_attempt_unsettled_for(attempt=attempt)
        if unsettled_for is not None:
            return transfer_transition(
                transfer_id=transfer.pk, to_state=TransferState.PAYOUT_REVIEW,
                actor=f"rail:{attempt.rail.code}",
                reason=(f"payout {attempt.status} at the provider {unsettled_for:.0f}s after it "
                        "was sent: an operator checks with the provider (settle by hand, or "
                        "retry or refund once it says nothing was paid)")[:300],
                data={"payout_reference": attempt.reference, "attempt_status": attempt.status,
                      "unsettled_seconds": round(unsettled_for)},
                expect_from=frozenset({TransferState.PAYOUT_PENDING}))
    return transfer


def transfer_payout_outcome(*, transfer_id: int) -> Transfer:
    """Act on the latest attempt's final status (idempotent: a final transfer stays put).

    Under review a failure of any kind fails the payout (no automatic retry so late): the
    sender's correction, an operator's retry or the refund take it from there.
    """
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state not in _PAYOUT_OUT:
        return transfer
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        return transfer
    fiat = transfer.currency_out
    rail_actor = f"rail:{attempt.rail.code}"
    if attempt.status == PayoutAttempt.Status.SUCCEEDED:
        # Phase two of the float reservation: the payout leaves the reserved float (debit the
        # payout liability, credit the reserved float), with the move.
        return transfer_step(
            transfer_id=transfer.pk, expect_from=_PAYOUT_OUT, lost_race="return",
            apply=lambda locked: Move(
                to_state=TransferState.COMPLETED, actor=rail_actor, reason="recipient paid",
                data={"payout_reference": attempt.reference,
                      "provider_receipt": attempt.provider_receipt},
                float_operation=FLOAT_COMMIT, float_rail_code=attempt.rail.code))
    if attempt.status != PayoutAttempt.Status.FAILED:
        return transfer
    if (attempt.failure_kind != PayoutAttempt.FailureKind.RETRYABLE
            or transfer.state != TransferState.PAYOUT_PENDING):
        # The float stays reserved for the sender's correction or an operator's retry; the
        # refund (asked for, or after the corridor's correction window) releases it.
        return transfer_step(
            transfer_id=transfer.pk, expect_from=_PAYOUT_OUT, lost_race="return",
            apply=lambda locked: Move(
                to_state=TransferState.PAYOUT_FAILED, actor=rail_actor,
                reason=f"payout failed: {attempt.result_code} "
                       f"{attempt.result_description}"[:300],
                data={"payout_reference": attempt.reference,
                      "failure_kind": attempt.failure_kind}))

    def retry_record(locked: Transfer) -> Move:
        recipient = locked.recipient or {}
        try:
            with transaction.atomic():
                retry = payout_attempt_create(
                    rail=attempt.rail, owner_reference=transfer.reference,
                    amount=transfer.amount_out, currency=fiat,
                    recipient_msisdn=recipient.get("phone_number", ""),
                    remarks=f"Remittance {str(transfer.public_id)[:8]}",
                )
        except PayoutRetryDeadlineError as exc:
            # The float stays reserved: a correction or a retry pays from it, a refund gives
            # it back.
            return Move(to_state=TransferState.PAYOUT_FAILED, actor=rail_actor,
                        reason=f"payout retries exhausted: {exc.detail}"[:300],
                        data={"payout_reference": attempt.reference,
                              "failure_kind": "retryable", "deadline": True})
        wait = ((retry.not_before - timezone.now()).total_seconds()
                if retry.not_before else 0.0)
        # Stays payout_pending: the history row notes the retry, the driver sends it after
        # its backoff.
        return Move(to_state=TransferState.PAYOUT_PENDING, actor="system",
                    reason=f"payout retry after {attempt.result_code}",
                    data={"failed": attempt.reference, "retry": retry.reference},
                    retry_after=max(wait, 0.0))

    return transfer_step(transfer_id=transfer.pk, lost_race="return", apply=retry_record,
                         expect_from=frozenset({TransferState.PAYOUT_PENDING}))


# --- ways out of a failed payout ------------------------------------------------------------


class RailCannotPayError(DomainError):
    slug = "rail-cannot-pay"
    title = "This rail cannot pay the amount the transfer promised"
    status = 422


def rail_pays_exactly_check(*, rail: Rail, amount: Decimal, currency: str) -> None:
    """Refuse a rail that would not pay ``amount`` ``currency`` to the unit: another currency,
    or coarser amounts than the promise (a whole-shilling rail for 12,700.50 KES would pay
    12,700 while the float and the ledger say 12,700.50)."""
    if rail.currency != currency:
        raise RailCannotPayError(f"Rail {rail.code} pays {rail.currency}, not {currency}.")
    try:
        payable = money_round_down(amount, currency, exponent=rail.amount_exponent)
    except ValueError as exc:
        raise RailCannotPayError(f"Rail {rail.code} is misconfigured: {exc}") from exc
    if payable != amount:
        places = ("whole units" if rail.amount_exponent == 0
                  else f"amounts to {rail.amount_exponent} decimal places")
        raise RailCannotPayError(
            f"Rail {rail.code} pays {places}: it would pay {payable} {currency}, not the "
            f"{money_round_down(amount, currency)} {currency} the transfer promised.")


class CorrectionClosedError(DomainError):
    slug = "correction-window-closed"
    title = "The correction window of this transfer has closed"
    status = 409


def transfer_payout_method(transfer: Transfer) -> str:
    return transfer.payout_method or transfer.corridor.payout_method


def transfer_correction_deadline(transfer: Transfer) -> datetime | None:
    """Until when a failed payout waits for the sender's correction (then it is refunded)."""
    if transfer.state != TransferState.PAYOUT_FAILED:
        return None
    return transfer.state_changed_at + transfer.corridor.correction_window


def transfer_payout_restart(*, transfer_id: int, actor: str, reason: str,
                            recipient: dict | None = None, payout_method: str | None = None,
                            rail: Rail | None = None) -> Transfer:
    """Start a new payout for a transfer whose payout failed (``payout_failed`` ->
    ``payout_pending``), in one transaction: a mobile-money attempt on the float reserved for
    it (reserved again, on the chosen rail, if it was given back), or a cash-pickup code.

    ``recipient`` replaces the recipient fields it names (already validated by the caller);
    ``rail`` reroutes to another rail paying the same currency. Nothing is sent here: the
    driver sends the recorded attempt after commit, exactly once.
    """
    cash_pickup: list[bool] = []  # set when this call moves the transfer to cash pickup

    def payout_start(transfer: Transfer) -> Move:
        if transfer.state != TransferState.PAYOUT_FAILED:
            raise InvalidTransitionError(
                f"Transfer {transfer.public_id} is {transfer.state}; only a failed payout can "
                "be started again.")
        latest = screening_decision_latest(subject_reference=transfer.reference)
        if latest is not None and latest.outcome != ScreeningDecision.Outcome.APPROVE:
            # A list change put a hit on it after the payout failed: its case decides first.
            raise DomainError(f"Transfer {transfer.public_id} is under compliance review; its "
                              "payout cannot start again until the case is decided.",
                              slug="under-review", status=409)
        updated_recipient = {**(transfer.recipient or {}), **(recipient or {})}
        method = payout_method or transfer_payout_method(transfer)
        changes: dict = {"recipient": updated_recipient, **transfer_party_indexes(
            sender=transfer.sender, recipient=updated_recipient)}
        if payout_method:
            changes["payout_method"] = payout_method
        if method == Corridor.PayoutMethod.CASH_PICKUP:
            # Cash is paid from an agent's float: the rail's reservation goes back.
            cash_pickup.append(True)
            return Move(to_state=TransferState.PAYOUT_PENDING, actor=actor,
                        reason=f"{reason}; cash pickup"[:300], changes=changes,
                        float_operation=FLOAT_RELEASE)
        last = transfer_live_attempt(transfer=transfer)
        chosen = rail or (last.rail if last else transfer.corridor.rail)
        if chosen is None:
            raise InvalidTransitionError(f"Transfer {transfer.public_id} has no payout rail.")
        rail_pays_exactly_check(rail=chosen, amount=transfer.amount_out,
                                currency=transfer.currency_out)
        reservation = FloatReservation.objects.filter(
            transfer_reference=transfer.reference).first()
        if reservation is not None and reservation.status == FloatReservation.Status.RESERVED \
                and reservation.rail_code != chosen.code:
            treasury_float_release(transfer_reference=transfer.reference)
        treasury_float_reserve(transfer_reference=transfer.reference, rail_code=chosen.code,
                               amount=transfer.amount_out, currency=transfer.currency_out)
        attempt = payout_attempt_create(
            rail=chosen, owner_reference=transfer.reference, amount=transfer.amount_out,
            currency=transfer.currency_out,
            recipient_msisdn=updated_recipient.get("phone_number", ""),
            remarks=f"Remittance {str(transfer.public_id)[:8]}", instructed=True,
        )
        return Move(to_state=TransferState.PAYOUT_PENDING, actor=actor, reason=reason,
                    data={"payout_reference": attempt.reference, "rail": chosen.code},
                    changes=changes)

    with transaction.atomic():
        pending = transfer_step(transfer_id=transfer_id, apply=payout_start)
        if cash_pickup:
            from gateway.transfers.services.payout_rails import (
                transfer_payout_rail,
                transfer_payout_record,
            )

            transfer_payout_record(transfer=pending, rail=transfer_payout_rail(pending),
                                   instructed=True)
        return pending


def transfer_payout_correct(*, transfer_id: int, recipient_phone: str | None = None,
                            recipient_name: str | None = None, payout_method: str | None = None,
                            actor: str) -> Transfer:
    """The sender's correction of a failed payout: a corrected recipient (validated as at
    creation), or cash pickup where the corridor offers it, paid on the same quote and float.
    Refused once the corridor's correction window has closed (the transfer is refunded)."""
    transfer = Transfer.objects.select_related("corridor__rail").get(pk=transfer_id)
    if transfer.state != TransferState.PAYOUT_FAILED:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} is {transfer.state}; a correction is taken only "
            "after a failed payout.")
    deadline = transfer_correction_deadline(transfer)
    if deadline is not None and timezone.now() >= deadline:
        raise CorrectionClosedError(
            f"The correction window closed at {deadline.isoformat()}; the transfer is being "
            "refunded.")
    if payout_method and payout_method not in Corridor.PayoutMethod.values:
        raise InvalidRecipientError(f"payout_method {payout_method!r} is not one of "
                                    f"{', '.join(Corridor.PayoutMethod.values)}.")
    if payout_method == Corridor.PayoutMethod.CASH_PICKUP and not hasattr(
            transfer.corridor, "cash_pickup"):
        raise InvalidRecipientError("This corridor does not offer cash pickup.")
    if payout_method == Corridor.PayoutMethod.MOBILE_MONEY and transfer.corridor.rail is None:
        raise InvalidRecipientError("This corridor does not pay mobile-money wallets.")
    recipient: dict = {}
    if recipient_name is not None:
        if not recipient_name.strip():
            raise InvalidRecipientError("recipient.name must not be empty.")
        recipient["name"] = " ".join(recipient_name.split())
    if recipient_phone is not None:
        # Checked by the rules of the payout it will get: the one asked for, else the one the
        # transfer has now (it may have switched to cash pickup), not the corridor's default.
        recipient["phone_number"] = recipient_phone_validate(
            corridor=transfer.corridor, phone=recipient_phone,
            payout_method=payout_method or transfer_payout_method(transfer),
            region=(transfer.recipient or {}).get("country"))
    if not recipient and not payout_method:
        raise InvalidRecipientError("Nothing to correct: give the recipient's phone number, "
                                    "name or a payout method.")
    if "name" in recipient:
        # A hit is held for a case; the restart below then refuses (under-review).
        transfer_correction_screen(transfer_id=transfer.pk, name=recipient["name"])
    return transfer_payout_restart(transfer_id=transfer.pk, actor=actor,
                                   reason="payout restarted after the sender's correction",
                                   recipient=recipient, payout_method=payout_method)


class PayoutUnsettledError(DomainError):
    slug = "payout-unsettled"
    title = "The provider has not said that the payout failed"
    status = 409


def transfer_payout_unsettled_resolve(*, transfer_id: int) -> Transfer:
    """Before a retry or a refund of a payout under review: ask the provider now, and act on
    its answer. The transfer is returned failed (nothing was paid: the retry or refund may go
    on) or completed (it was paid after all); while the provider still says pending, or
    answers later (Daraja answers at the callback URL, and the driver acts on it), this raises
    ``PayoutUnsettledError`` and nothing else happens. A transfer in another state is returned
    as it is."""
    transfer = Transfer.objects.get(pk=transfer_id)
    if transfer.state != TransferState.PAYOUT_REVIEW:
        return transfer
    attempt = transfer_live_attempt(transfer=transfer)
    if attempt is None:
        raise InvalidTransitionError(f"Transfer {transfer.public_id} has no payout attempt.")
    if not attempt.is_final:
        result_url, timeout_url = payout_callback_urls(rail_code=attempt.rail.code)
        try:
            attempt = payout_attempt_query(attempt=attempt, result_url=result_url,
                                           timeout_url=timeout_url)
        except PayoutRailUnavailableError as exc:
            raise PayoutUnsettledError(
                f"The provider could not be asked about payout {attempt.reference}: "
                f"{exc.detail}. Nothing was sent; try again, or settle it by hand once the "
                "provider confirmed.") from exc
    transfer = transfer_payout_outcome(transfer_id=transfer.pk)
    if transfer.state == TransferState.PAYOUT_REVIEW:
        raise PayoutUnsettledError(
            f"Payout {attempt.reference} is still {attempt.status} at the provider, which was "
            "asked again now. It may still be paid, so nothing is sent or refunded before the "
            "provider says it failed; settle it by hand once the provider confirmed either way.")
    return transfer


def transfer_payout_retry(*, transfer_id: int, operator: str, note: str,
                          rail_code: str = "") -> Transfer:
    """An operator's retry of a failed payout, on the same rail or rerouted to another. Under
    review, only once the provider said the payout was not made."""
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    under_review = Transfer.objects.filter(
        pk=transfer_id, state=TransferState.PAYOUT_REVIEW).exists()
    transfer = transfer_payout_unsettled_resolve(transfer_id=transfer_id)
    if under_review and transfer.state == TransferState.COMPLETED:
        raise InvalidTransitionError(
            f"Transfer {transfer.public_id} was paid after all (the provider settled the "
            "payout); nothing to retry.")
    rail = None
    if rail_code:
        rail = rail_get_active(code=rail_code)
        if rail is None:
            raise InvalidRecipientError(f"No active rail {rail_code!r}.")
    return transfer_payout_restart(
        transfer_id=transfer_id, actor=f"operator:{operator}", rail=rail,
        reason=(f"rerouted to {rail_code}: {note}" if rail_code else f"retried: {note}")[:300])
