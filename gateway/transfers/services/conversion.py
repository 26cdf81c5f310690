"""Conversion on the quote's venue, float-covered payout set-up, treasury holds."""

import logging
from decimal import Decimal

from django.db import transaction

from compliance.models import ScreeningDecision
from gateway.common.money import (
    money_round,
    money_round_down,
)
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.services import (
    credit,
    debit,
    ledger_entry_post,
)
from gateway.transfers.models import Corridor, Transfer
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState
from gateway.treasury.services import (
    FloatShortError,
    treasury_float_reserve,
)
from ramps.liquidity.models import ConversionOrder
from ramps.liquidity.services import (
    VenueUnavailableError,
    conversion_order_create,
    conversion_order_execute,
)
from ramps.payouts.services import (
    payout_attempt_create,
)

logger = logging.getLogger(__name__)
S = TransferState
K = LedgerAccount.Kind


# --- conversion -----------------------------------------------------------------------------


def transfer_convert_start(*, transfer_id: int) -> Transfer:
    """Record the conversion order (our client order id) with the move to ``converting``."""
    transfer = Transfer.objects.select_related("corridor__venue", "compliance_decision",
                                               "quote__venue").get(pk=transfer_id)
    if transfer.state != S.APPROVED:
        return transfer
    decision = transfer.compliance_decision
    if decision is None or decision.outcome != ScreeningDecision.Outcome.APPROVE:
        raise InvalidTransitionError("No recorded compliance approval: nothing moves.")
    corridor = transfer.corridor
    venue = transfer.quote.venue or corridor.venue
    with transaction.atomic():
        order = conversion_order_create(
            venue=venue, reference=transfer.reference, symbol=corridor.venue_symbol,
            side="sell", amount_base=transfer.amount_in - transfer.amount_fee,
        )
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.CONVERTING, reason="conversion order recorded",
            data={"client_order_id": order.client_order_id, "venue": venue.name},
            expect_from=frozenset({S.APPROVED}),
        )


def transfer_convert_execute(*, transfer_id: int) -> Transfer:
    """Execute (or look up) the conversion order; on a full fill, book it and start the payout."""
    transfer = Transfer.objects.select_related("corridor__venue", "corridor__rail",
                                               "corridor__token").get(pk=transfer_id)
    if transfer.state != S.CONVERTING:
        return transfer
    order = ConversionOrder.objects.get(reference=transfer.reference)
    try:
        order = conversion_order_execute(order=order)
    except VenueUnavailableError as exc:
        logger.warning("venue unavailable for transfer %s: %s", transfer.public_id, exc.detail)
        return transfer  # nothing was sent; the re-drive tries again
    if order.status == ConversionOrder.Status.FILLED:
        return transfer_convert_settle(transfer_id=transfer.pk, order=order)
    if order.status in (ConversionOrder.Status.REJECTED, ConversionOrder.Status.PARTIALLY_FILLED):
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.ON_HOLD, actor="liquidity",
            reason=f"conversion {order.status}: {order.last_error or 'see order'}"[:300],
            updates={"hold_reason": f"conversion {order.status}"},
            expect_from=frozenset({S.CONVERTING}),
        )
    return transfer  # open or unknown: the re-drive asks the venue again later


def transfer_convert_settle(*, transfer_id: int, order: ConversionOrder) -> Transfer:
    """Book the fill, make sure the payout is covered by reserved rail float and record the
    payout attempt, with the move to ``payout_pending`` (one transaction).

    The float was reserved at funding (``gateway.treasury``: free float -> reserved float, the
    free float cannot go negative); if it could not be then, it is tried again here. A payout
    the float cannot cover is never sent: the transfer is held (the conversion stays booked)
    and waits for a top-up (``transfer_hold_review`` releases it once the float suffices).
    """
    transfer = Transfer.objects.select_related("corridor__rail", "corridor__token").get(
        pk=transfer_id)
    corridor = transfer.corridor
    symbol, fiat = corridor.token.symbol, transfer.currency_out
    venue_account = f"assets:venue:{order.venue.name}"
    sold = money_round(order.filled_base, symbol)
    # What the venue credits: the gross fill less its fee charged in the quote currency.
    proceeds = money_round_down(order.filled_quote - (order.fee_quote or Decimal(0)), fiat)
    spread = proceeds - transfer.amount_out
    conversion_legs = [
        debit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in, kind=K.LIABILITY),
        credit("revenue:fees", symbol, transfer.amount_fee, kind=K.REVENUE),
        credit(venue_account, symbol, sold, kind=K.ASSET),
        debit(venue_account, fiat, proceeds, kind=K.ASSET),
        credit(f"liabilities:payouts:{fiat}", fiat, transfer.amount_out, kind=K.LIABILITY),
    ]
    if spread != 0:
        conversion_legs.append(credit("revenue:fx-spread", fiat, spread, kind=K.REVENUE))
    residual = transfer.amount_in - transfer.amount_fee - sold
    if residual != 0:  # fill size differs from the order by rounding dust
        conversion_legs.append(credit("revenue:conversion-dust", symbol, residual,
                                      kind=K.REVENUE))
    conversion_reference = f"transfer:{transfer.public_id}:conversion"
    if JournalEntry.objects.filter(reference=conversion_reference).exists():
        conversion_legs = []  # booked before the transfer was held for float
    recipient = transfer.recipient or {}
    fill = {"filled_base": str(order.filled_base), "filled_quote": str(order.filled_quote),
            "average_price": str(order.average_price)}
    with transaction.atomic():
        locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.state != S.CONVERTING:
            return locked
        if conversion_legs:
            ledger_entry_post(reference=conversion_reference, owner_reference=transfer.reference,
                              description=f"Conversion {symbol}->{fiat} for transfer "
                                          f"{transfer.public_id}", legs=conversion_legs)
        if corridor.payout_method == Corridor.PayoutMethod.CASH_PICKUP:
            # Cash is paid from an agent's float at the counter: the code is issued now and the
            # agent's confirmation completes the transfer (gateway.agents).
            from gateway.agents.services import redemption_issue

            pending = transfer_transition(
                transfer_id=transfer.pk, to_state=S.PAYOUT_PENDING, actor="liquidity",
                reason="converted; redemption code issued for cash pickup", data=fill,
                expect_from=frozenset({S.CONVERTING}),
            )
            redemption_issue(transfer=pending)
            return pending
        try:
            with transaction.atomic():
                treasury_float_reserve(transfer_reference=transfer.reference,
                                       rail_code=corridor.rail.code, amount=transfer.amount_out,
                                       currency=fiat)
        except FloatShortError as exc:
            return transfer_transition(
                transfer_id=transfer.pk, to_state=S.ON_HOLD, actor="treasury",
                reason=f"rail float too low: {exc.detail}"[:300], data=fill,
                updates={"hold_reason": FLOAT_HOLD_REASON},
                expect_from=frozenset({S.CONVERTING}),
            )
        attempt = payout_attempt_create(
            rail=corridor.rail, owner_reference=transfer.reference, amount=transfer.amount_out,
            currency=fiat, recipient_msisdn=recipient.get("phone_number", ""),
            remarks=f"Remittance {str(transfer.public_id)[:8]}",
        )
        return transfer_transition(
            transfer_id=transfer.pk, to_state=S.PAYOUT_PENDING, actor="liquidity",
            reason="converted; float reserved; payout recorded",
            data={**fill, "payout_reference": attempt.reference},
            expect_from=frozenset({S.CONVERTING}),
        )


FLOAT_HOLD_REASON = "insufficient rail float"


def transfer_release_hold(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Release a transfer held for a treasury or conversion reason (not a compliance case):
    it goes back to ``approved`` and continues from its recorded conversion order, if any."""
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    transfer = Transfer.objects.select_related("compliance_decision").get(pk=transfer_id)
    decision = transfer.compliance_decision
    if transfer.state != S.ON_HOLD or decision is None or (
        decision.outcome != ScreeningDecision.Outcome.APPROVE
    ):
        raise InvalidTransitionError(
            "Only a held transfer that compliance approved can be released; a compliance case "
            "is decided with approve/reject."
        )
    return transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                               actor=f"operator:{operator}", reason=f"released: {note}"[:300],
                               updates={"hold_reason": ""},
                               expect_from=frozenset({S.ON_HOLD}))
