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
)
from gateway.transfers.models import Corridor, HoldKind, Transfer
from gateway.transfers.services.holds import (
    transfer_hold,
    transfer_hold_clear,
    transfer_holds_refuse,
)
from gateway.transfers.services.machine import Entry, Move, transfer_step
from gateway.transfers.states import TransferState
from gateway.treasury.services import (
    FloatShortError,
    treasury_float_reserve,
)
from ramps.liquidity.models import ConversionOrder
from ramps.liquidity.selectors import conversion_orders_with_reference_prefix
from ramps.liquidity.services import (
    VenueUnavailableError,
    conversion_order_amount,
    conversion_order_create,
    conversion_order_execute,
)
from ramps.payouts.services import (
    PayoutValidationError,
    payout_attempt_create,
)

logger = logging.getLogger(__name__)


# --- conversion -----------------------------------------------------------------------------


def transfer_orders(*, transfer: Transfer) -> list[ConversionOrder]:
    """The transfer's conversion orders, oldest first: the first has the transfer's reference,
    each later one (placed after a rejection or a partial fill) that reference with ``:n``."""
    return list(conversion_orders_with_reference_prefix(prefix=transfer.reference))


def _order_amount(transfer: Transfer) -> Decimal:
    """What the conversion sells: the deposit less the fee, in the sell asset's units."""
    return transfer.amount_in - transfer.amount_fee


def _sellable(venue, symbol: str, amount: Decimal) -> Decimal:
    """What an order can still carry: ``amount`` truncated to the venue's step (0 if none)."""
    if amount <= 0:
        return Decimal(0)
    return conversion_order_amount(venue=venue, symbol=symbol, amount=amount)


def transfer_convert_start(*, transfer_id: int) -> Transfer:
    """Record the conversion order (our client order id) with the move to ``converting``.

    A transfer whose last order the venue rejected or filled only in part gets a new order,
    with a new reference and client order id, for what is still unsold; an order still open or
    unknown is followed up, never placed twice.
    """
    transfer = Transfer.objects.select_related("corridor__venue", "compliance_decision",
                                               "quote__venue").get(pk=transfer_id)
    if transfer.state != TransferState.APPROVED:
        return transfer
    decision = transfer.compliance_decision
    if decision is None or decision.outcome != ScreeningDecision.Outcome.APPROVE:
        raise InvalidTransitionError("No recorded compliance approval: nothing moves.")
    corridor = transfer.corridor
    venue = transfer.quote.venue or corridor.venue
    orders = transfer_orders(transfer=transfer)
    sold = sum((o.filled_base or Decimal(0) for o in orders
                if o.status == ConversionOrder.Status.PARTIALLY_FILLED), Decimal(0))
    follow_up = orders and orders[-1].status not in (ConversionOrder.Status.REJECTED,
                                                     ConversionOrder.Status.PARTIALLY_FILLED)
    if not follow_up:
        try:
            # The quote's amount: what is left unsold, truncated to the venue's step by the
            # same helper the quote was priced with; the residue is booked as conversion dust.
            amount_base = _sellable(venue, corridor.venue_symbol, _order_amount(transfer) - sold)
        except VenueUnavailableError as exc:
            logger.warning("venue unavailable for transfer %s: %s", transfer.public_id,
                           exc.detail)
            return transfer  # nothing was recorded; the re-drive tries again
        # A partial fill that left less than one step unsold is as good as a full fill: the
        # last order is followed up and settles what was sold.
        follow_up = amount_base <= 0 and bool(orders)

    def order_record(locked: Transfer) -> Move:
        if follow_up:
            order = orders[-1]
        else:
            reference = (transfer.reference if not orders
                         else f"{transfer.reference}:{len(orders) + 1}")
            order = conversion_order_create(
                venue=venue, reference=reference, symbol=corridor.venue_symbol,
                side="sell", amount_base=amount_base,
            )
        return Move(to_state=TransferState.CONVERTING, reason="conversion order recorded",
                    data={"client_order_id": order.client_order_id, "venue": venue.name})

    return transfer_step(transfer_id=transfer.pk, apply=order_record,
                         expect_from=frozenset({TransferState.APPROVED}))


def transfer_convert_execute(*, transfer_id: int) -> Transfer:
    """Execute (or look up) the conversion order; on a full fill, book it and start the payout.

    A rejected or partly filled order holds the transfer for an operator (``conversion``):
    releasing it places a new order for what is still unsold.
    """
    transfer = Transfer.objects.select_related("corridor__venue", "corridor__rail",
                                               "corridor__token").get(pk=transfer_id)
    if transfer.state != TransferState.CONVERTING:
        return transfer
    order = transfer_orders(transfer=transfer)[-1]
    try:
        order = conversion_order_execute(order=order)
    except VenueUnavailableError as exc:
        logger.warning("venue unavailable for transfer %s: %s", transfer.public_id, exc.detail)
        return transfer  # nothing was sent; the re-drive tries again
    if order.status == ConversionOrder.Status.FILLED:
        return transfer_convert_settle(transfer_id=transfer.pk, order=order)
    if order.status == ConversionOrder.Status.PARTIALLY_FILLED:
        sold = sum((o.filled_base or Decimal(0) for o in transfer_orders(transfer=transfer)
                    if o.status == ConversionOrder.Status.PARTIALLY_FILLED), Decimal(0))
        try:
            unsold = _sellable(order.venue, order.symbol, _order_amount(transfer) - sold)
        except VenueUnavailableError:
            return transfer  # asked again on the re-drive
        if unsold <= 0:
            return transfer_convert_settle(transfer_id=transfer.pk, order=order)
    if order.status in (ConversionOrder.Status.REJECTED, ConversionOrder.Status.PARTIALLY_FILLED):
        return transfer_hold(
            transfer_id=transfer.pk, kind=HoldKind.CONVERSION, actor="liquidity",
            reason=f"conversion {order.status}: {order.last_error or 'see order'}",
            label=f"conversion {order.status}",
            data={"client_order_id": order.client_order_id},
            expect_from=frozenset({TransferState.CONVERTING}),
        )
    return transfer  # open or unknown: the re-drive asks the venue again later


def _conversion_entry(transfer: Transfer) -> Entry | None:
    """The conversion's journal entry, or None once booked (a transfer held for float after
    its conversion is booked then)."""
    if JournalEntry.objects.filter(reference=f"transfer:{transfer.public_id}:conversion").exists():
        return None
    symbol, fiat = transfer.corridor.token.symbol, transfer.currency_out
    # Every fill of the transfer's orders (one, or more after a partial fill) is booked on the
    # venue that made it: the sold asset out, the proceeds (less the venue's fee) in.
    fills = [o for o in transfer_orders(transfer=transfer)
             if o.status in (ConversionOrder.Status.FILLED,
                             ConversionOrder.Status.PARTIALLY_FILLED) and o.filled_base]
    conversion_legs = [
        debit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in,
              kind=LedgerAccount.Kind.LIABILITY),
        credit("revenue:fees", symbol, transfer.amount_fee, kind=LedgerAccount.Kind.REVENUE),
        credit(f"liabilities:payouts:{fiat}", fiat, transfer.amount_out,
               kind=LedgerAccount.Kind.LIABILITY),
    ]
    sold = proceeds = Decimal(0)
    for filled in fills:
        venue_account = f"assets:venue:{filled.venue.name}"
        fill_sold = money_round(filled.filled_base, symbol)
        fill_proceeds = money_round_down(
            filled.filled_quote - (filled.fee_quote or Decimal(0)), fiat)
        conversion_legs += [credit(venue_account, symbol, fill_sold, kind=LedgerAccount.Kind.ASSET),
                            debit(venue_account, fiat, fill_proceeds,
                                  kind=LedgerAccount.Kind.ASSET)]
        sold, proceeds = sold + fill_sold, proceeds + fill_proceeds
    spread = proceeds - transfer.amount_out
    if spread != 0:
        conversion_legs.append(credit("revenue:fx-spread", fiat, spread,
                                      kind=LedgerAccount.Kind.REVENUE))
    residual = transfer.amount_in - transfer.amount_fee - sold
    if residual != 0:  # fill size differs from the order by rounding dust
        conversion_legs.append(credit("revenue:conversion-dust", symbol, residual,
                                      kind=LedgerAccount.Kind.REVENUE))
    return Entry(event="conversion", legs=tuple(conversion_legs),
                 description=f"Conversion {symbol}->{fiat} for transfer {transfer.public_id}")


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
    fiat = transfer.currency_out
    conversion = _conversion_entry(transfer)
    recipient = transfer.recipient or {}
    fill = {"filled_base": str(order.filled_base), "filled_quote": str(order.filled_quote),
            "average_price": str(order.average_price)}

    cash_pickup: list[bool] = []  # set when this call moves a cash transfer to payout_pending

    def payout_record(locked: Transfer) -> Move:
        if corridor.payout_method == Corridor.PayoutMethod.CASH_PICKUP:
            # Cash is paid from an agent's float at the counter: the code is issued once the
            # move is written and the agent's confirmation completes it (ramps.payouts.agents).
            cash_pickup.append(True)
            return Move(to_state=TransferState.PAYOUT_PENDING, actor="liquidity",
                        reason="converted; redemption code issued for cash pickup", data=fill,
                        entry=conversion)
        try:
            with transaction.atomic():
                treasury_float_reserve(transfer_reference=transfer.reference,
                                       rail_code=corridor.rail.code, amount=transfer.amount_out,
                                       currency=fiat)
        except FloatShortError as exc:
            return Move(to_state=TransferState.ON_HOLD, actor="treasury",
                        reason=f"rail float too low: {exc.detail}", data=fill, entry=conversion,
                        changes={"holds": [HoldKind.FLOAT], "hold_reason": FLOAT_HOLD_REASON})
        try:
            with transaction.atomic():
                attempt = payout_attempt_create(
                    rail=corridor.rail, owner_reference=transfer.reference,
                    amount=transfer.amount_out, currency=fiat,
                    recipient_msisdn=recipient.get("phone_number", ""),
                    remarks=f"Remittance {str(transfer.public_id)[:8]}",
                )
        except PayoutValidationError as exc:
            # A recipient the rail cannot pay (a transfer created before recipients were
            # checked at creation): converted and covered, it waits for the sender's correction
            # instead of failing again at every re-drive.
            return Move(to_state=TransferState.PAYOUT_FAILED, actor="liquidity",
                        reason=f"converted; the recipient cannot be paid: {exc.detail}"[:300],
                        data={**fill, "failure_kind": "recipient"}, entry=conversion)
        return Move(to_state=TransferState.PAYOUT_PENDING, actor="liquidity",
                    reason="converted; float reserved; payout recorded",
                    data={**fill, "payout_reference": attempt.reference}, entry=conversion)

    with transaction.atomic():
        settled = transfer_step(transfer_id=transfer.pk, apply=payout_record, lost_race="return",
                                expect_from=frozenset({TransferState.CONVERTING}))
        if cash_pickup:
            from gateway.transfers.services.payout_rails import (
                transfer_payout_rail,
                transfer_payout_record,
            )

            transfer_payout_record(transfer=settled, rail=transfer_payout_rail(settled))
        return settled


FLOAT_HOLD_REASON = "insufficient rail float"


def transfer_release_hold(*, transfer_id: int, operator: str, note: str) -> Transfer:
    """Release a transfer held for a treasury or conversion reason (not a compliance case, and
    never one whose funding left the chain): it goes back to ``approved`` and continues; after a
    rejected or partial conversion a new order is placed for what is unsold."""
    if not note.strip():
        raise DomainError("A reason is required.", slug="reason-required", status=422)
    transfer = Transfer.objects.get(pk=transfer_id)
    transfer_holds_refuse(transfer=transfer, kinds=frozenset({HoldKind.REORG}),
                          action="released")
    return transfer_hold_clear(
        transfer_id=transfer.pk, kinds=frozenset({HoldKind.FLOAT, HoldKind.CONVERSION}),
        actor=f"operator:{operator}", reason=f"released: {note}", to_state=TransferState.APPROVED)
