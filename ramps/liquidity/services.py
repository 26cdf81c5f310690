"""Writes and venue calls of the liquidity app: prices for a size, conversion orders.

The gateway calls ``venue_price_quote`` when it quotes, ``conversion_order_create`` inside the
transaction that moves a transfer to conversion, then ``conversion_order_execute`` from a task
(after that commit) and ``conversion_order_refresh`` to settle orders whose outcome is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.common.problems import ConflictError, DomainError

from .client import (
    VenueCallError,
    VenueClient,
    VenueCredentialsError,
    VenueDuplicateOrderError,
    VenueNoAnswerError,
    VenueRefusedError,
    VenueUnknownMarketError,
    to_decimal,
)
from .models import ConversionOrder, FxReferenceRate, LiquidityReservation, Venue
from .rules import limit_price, market_rules, order_amount

logger = logging.getLogger(__name__)

DEFAULT_BOOK_MAX_AGE_SECONDS = 30
# An order the venue still does not know this long after it was sent never reached it.
DEFAULT_UNKNOWN_ORDER_GRACE_SECONDS = 60
# A firm quote holds venue depth at most this long, whatever expiry its client asks for.
DEFAULT_FIRM_QUOTE_MAX_SECONDS = 120


class LiquidityError(DomainError):
    slug = "liquidity-error"
    title = "The conversion venue cannot serve this request"
    status = 503


class InsufficientLiquidityError(LiquidityError):
    slug = "insufficient-liquidity"
    title = "Not enough liquidity on the venue for this amount"
    status = 422


class StaleMarketDataError(LiquidityError):
    slug = "stale-market-data"
    title = "The venue's market data is too old to price on"


class VenueUnavailableError(LiquidityError):
    slug = "venue-unavailable"
    title = "The conversion venue cannot be reached or refused the credentials"


class InvalidConversionError(LiquidityError):
    slug = "invalid-conversion"
    title = "The conversion request is not valid"
    status = 422


@dataclass(frozen=True)
class VenuePrice:
    """What converting ``amount_base`` would give right now, walking the book.

    ``amount_quote`` is the exact sum of price x volume over the levels taken (gross, before the
    venue's fee, unrounded: the caller rounds it with ``money_round_down`` for what it promises).
    ``vwap`` is ``amount_quote / amount_base``.
    """

    venue: Venue
    symbol: str
    side: str
    amount_base: Decimal
    vwap: Decimal
    amount_quote: Decimal
    book_timestamp: dt.datetime


def _check_side(side: str) -> None:
    if side not in ConversionOrder.Side.values:
        raise InvalidConversionError(f"Side must be 'sell' or 'buy', not {side!r}.")


def _book_levels(raw_levels: list[list[Any]]) -> list[tuple[Decimal, Decimal]]:
    levels = []
    for entry in raw_levels:
        price, volume = to_decimal(entry[0]), to_decimal(entry[1])
        if price is not None and volume is not None and volume > 0:
            levels.append((price, volume))
    return levels


def _walk_book(levels: list[tuple[Decimal, Decimal]], amount_base: Decimal) -> Decimal | None:
    """Quote amount for taking ``amount_base`` from ``levels`` (best first); None if too thin."""
    remaining = amount_base
    amount_quote = Decimal(0)
    for price, volume in levels:
        take = min(volume, remaining)
        amount_quote += price * take
        remaining -= take
        if remaining == 0:
            return amount_quote
    return None


def _fetch_book(venue: Venue, symbol: str) -> tuple[dict[str, Any], dt.datetime]:
    try:
        book = VenueClient.for_venue(venue).order_book(symbol)
    except VenueUnknownMarketError as exc:
        raise InvalidConversionError(f"{venue.name} has no market {symbol}.") from exc
    except VenueCredentialsError as exc:
        raise VenueUnavailableError(f"{venue.name} refused the credentials.") from exc
    except VenueCallError as exc:
        logger.warning("Order book of %s on %s unavailable: %s", symbol, venue.name, exc.name)
        raise VenueUnavailableError(f"{venue.name} order book unavailable.") from exc
    timestamp_ms = book.get("timestamp")
    if not timestamp_ms:
        raise StaleMarketDataError(f"{venue.name} gave no time for its {symbol} book.")
    book_time = dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC)
    max_age = getattr(settings, "LIQUIDITY_BOOK_MAX_AGE_SECONDS", DEFAULT_BOOK_MAX_AGE_SECONDS)
    age = (timezone.now() - book_time).total_seconds()
    if age > max_age:
        raise StaleMarketDataError(
            f"The {symbol} book of {venue.name} is {int(age)} s old (limit {max_age} s).",
            extra={"book_age_seconds": int(age)},
        )
    return book, book_time


def venue_price_quote(*, venue: Venue, symbol: str, side: str,
                      amount_base: Decimal) -> VenuePrice:
    """Volume-weighted price of converting ``amount_base`` on ``venue`` now.

    A sell walks the bids (best first), a buy the asks: the price of the whole size, not the top
    of the book. Raises ``InsufficientLiquidityError`` when the book is thinner than the size and
    ``StaleMarketDataError`` when its timestamp is older than
    ``settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS``.
    """
    _check_side(side)
    if not isinstance(amount_base, Decimal) or not amount_base.is_finite() or amount_base <= 0:
        raise InvalidConversionError("amount_base must be a positive Decimal.")
    book, book_time = _fetch_book(venue, symbol)
    levels = _book_levels(book["bids"] if side == ConversionOrder.Side.SELL else book["asks"])
    amount_quote = _walk_book(levels, amount_base)
    if amount_quote is None:
        depth = sum((volume for _, volume in levels), Decimal(0))
        raise InsufficientLiquidityError(
            f"{venue.name} can {side} only {depth} of {amount_base} {symbol.split('/')[0]}.",
            extra={"available_base": str(depth)},
        )
    return VenuePrice(venue=venue, symbol=symbol, side=side, amount_base=amount_base,
                      vwap=amount_quote / amount_base, amount_quote=amount_quote,
                      book_timestamp=book_time)


def conversion_order_amount(*, venue: Venue, symbol: str, amount: Decimal) -> Decimal:
    """What an order for ``amount`` of ``symbol``'s base can carry on ``venue``: ``amount``
    truncated to the market's amount step (``rules.order_amount``), the same computation the
    router prices a quote with. The residue stays unsold; the caller books it as dust.

    Reads the venue's markets (cached per process); raises ``VenueUnavailableError`` when they
    cannot be loaded and ``InvalidConversionError`` for a market the venue does not list.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise InvalidConversionError("amount must be a positive Decimal.")
    try:
        rules = market_rules(VenueClient.for_venue(venue), symbol)
    except VenueUnknownMarketError as exc:
        raise InvalidConversionError(f"{venue.name} has no market {symbol}.") from exc
    except VenueCallError as exc:
        logger.warning("Markets of %s unavailable: %s", venue.name, exc.name)
        raise VenueUnavailableError(f"{venue.name} markets unavailable.") from exc
    return order_amount(rules, amount)


def conversion_order_create(*, venue: Venue, reference: str, symbol: str, side: str,
                            amount_base: Decimal) -> ConversionOrder:
    """Store the order (and its client_order_id) without sending it; idempotent by reference.

    Meant to run inside the caller's transaction, so that the order exists exactly when the
    state change that needs it is committed. A second call with the same reference returns the
    first order; with other terms it raises ``ConflictError``.
    """
    _check_side(side)
    if not isinstance(amount_base, Decimal) or not amount_base.is_finite() or amount_base <= 0:
        raise InvalidConversionError("amount_base must be a positive Decimal.")
    try:
        with transaction.atomic():
            order, created = ConversionOrder.objects.get_or_create(
                reference=reference,
                defaults={"venue": venue, "symbol": symbol, "side": side,
                          "amount_base": amount_base},
            )
    except IntegrityError:
        order, created = ConversionOrder.objects.get(reference=reference), False
    if not created and (order.venue_id, order.symbol, order.side, order.amount_base) != (
            venue.pk, symbol, side, amount_base):
        raise ConflictError(
            f"A conversion order with reference {reference} exists with other terms.")
    if created:
        logger.info("Conversion order %s stored: %s %s %s on %s", order.client_order_id, side,
                    amount_base, symbol, venue.name)
    return order


def _claim(order: ConversionOrder) -> bool:
    """Move a created order to unknown and commit, before anything is sent.

    From then on no worker sends it again: a second worker finds it unknown and only asks the
    venue. ``durable=True`` refuses to run inside an outer transaction, whose rollback would
    undo the claim after the order had left.
    """
    with transaction.atomic(durable=True):
        locked = ConversionOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status != ConversionOrder.Status.CREATED:
            return False
        locked.status = ConversionOrder.Status.UNKNOWN
        locked.submitted_at = timezone.now()
        locked.last_error = ""
        locked.save(update_fields=["status", "submitted_at", "last_error", "updated_at"])
    return True


def _release(order: ConversionOrder, error: str) -> None:
    """The venue refused before placing anything for a reason that is not the order's fault
    (credentials, maintenance): hand the order back so that it can be sent later."""
    with transaction.atomic():
        ConversionOrder.objects.filter(pk=order.pk, status=ConversionOrder.Status.UNKNOWN).update(
            status=ConversionOrder.Status.CREATED, last_error=error, updated_at=timezone.now())


def _save(order: ConversionOrder, **changes: Any) -> ConversionOrder:
    """Write ``changes`` unless the order reached a final status meanwhile (another worker)."""
    with transaction.atomic():
        locked = ConversionOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status in ConversionOrder.FINAL_STATUSES:
            return locked
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


def _order_terms(venue_client: VenueClient,
                 order: ConversionOrder) -> tuple[str, str, str | None]:
    """(order type, amount, limit price) as the venue takes them.

    A sell is a market order for the base amount. A buy goes out as an immediate-or-cancel
    limit order at the worst ask needed for the whole amount now, because a ccxt market buy on
    Luno is sized in the quote currency, and the base amount is what the order promises.
    """
    rules = market_rules(venue_client, order.symbol)
    if order_amount(rules, order.amount_base) != order.amount_base:
        # Orders are sized with ``conversion_order_amount``; this one was not (or the venue's
        # step changed since): refused here rather than sold short of what was booked.
        raise InvalidConversionError(
            f"{order.amount_base} is finer than the venue's step for {order.symbol}.")
    amount = str(order.amount_base)
    if order.side == ConversionOrder.Side.SELL:
        return "market", amount, None
    book = venue_client.order_book(order.symbol)
    remaining = order.amount_base
    for price, volume in _book_levels(book["asks"]):
        remaining -= min(volume, remaining)
        if remaining == 0:
            return "limit", amount, str(limit_price(rules, price, side="buy"))
    raise InsufficientLiquidityError(f"Not enough asks to buy {order.amount_base} {order.symbol}.")


def _fills(venue_client: VenueClient, order: ConversionOrder, venue_order: dict[str, Any]
           ) -> dict[str, Any]:
    """Fill fields of ccxt's unified order (and the order's trades when it reports no fee)."""
    filled_base = to_decimal(venue_order.get("filled")) or Decimal(0)
    filled_quote = to_decimal(venue_order.get("cost")) or Decimal(0)
    fee_quote = fee_base = Decimal(0)
    fees = venue_order.get("fees") or ([venue_order["fee"]] if venue_order.get("fee") else [])
    for fee in fees:
        cost = to_decimal(fee.get("cost")) or Decimal(0)
        if fee.get("currency") == order.quote_currency:
            fee_quote += cost
        elif fee.get("currency") == order.base_currency:
            fee_base += cost
    if filled_base > 0 and fee_quote == 0 and fee_base == 0:
        # ccxt's Luno parser reads only the quote fee of an order; a buyer pays in base. The
        # trades carry it.
        for trade in venue_client.my_trades(symbol=order.symbol,
                                            since=venue_order.get("timestamp")):
            if str(trade.get("order")) != order.venue_order_id:
                continue
            for fee in trade.get("fees") or ([trade["fee"]] if trade.get("fee") else []):
                cost = to_decimal(fee.get("cost")) or Decimal(0)
                if fee.get("currency") == order.quote_currency:
                    fee_quote += cost
                elif fee.get("currency") == order.base_currency:
                    fee_base += cost
    if venue_order.get("status") == "open":
        status = ConversionOrder.Status.OPEN
    elif filled_base == 0:
        status = ConversionOrder.Status.REJECTED
    elif filled_base < order.amount_base:
        status = ConversionOrder.Status.PARTIALLY_FILLED
    else:
        status = ConversionOrder.Status.FILLED
    return {
        "status": status,
        "filled_base": filled_base,
        "filled_quote": filled_quote,
        "average_price": filled_quote / filled_base if filled_base else None,
        "fee_quote": fee_quote,
        "fee_base": fee_base,
        "raw": venue_order.get("info") or {},
    }


def _record_fills(venue_client: VenueClient, order: ConversionOrder) -> ConversionOrder:
    try:
        venue_order = venue_client.order(venue_order_id=order.venue_order_id,
                                         symbol=order.symbol)
        changes = _fills(venue_client, order, venue_order)
    except VenueCallError as exc:
        logger.warning("Conversion order %s placed as %s; its fills are not known yet: %s",
                       order.client_order_id, order.venue_order_id, exc.name)
        return _save(order, last_error=f"fills not fetched: {exc.name}")
    changes["last_error"] = ""
    order = _save(order, **changes)
    logger.info("Conversion order %s is %s: %s %s for %s %s", order.client_order_id,
                order.status, order.filled_base, order.base_currency, order.filled_quote,
                order.quote_currency)
    return order


def conversion_order_execute(*, order: ConversionOrder) -> ConversionOrder:
    """Send the order to its venue once, then record what filled; returns the updated order.

    Only a ``created`` order is sent, and only after it has been claimed (committed as
    ``unknown``). An unknown or open order is settled by ``conversion_order_refresh`` instead;
    a final one is returned unchanged. Must run outside any transaction (a task).
    """
    order.refresh_from_db()
    if order.status in ConversionOrder.FINAL_STATUSES:
        return order
    if order.status != ConversionOrder.Status.CREATED or not _claim(order):
        return conversion_order_refresh(order=order)
    order.refresh_from_db()
    venue = order.venue
    try:
        venue_client = VenueClient.for_venue(venue)
        order_type, amount, price = _order_terms(venue_client, order)
    except (InvalidConversionError, InsufficientLiquidityError) as exc:
        logger.warning("Conversion order %s cannot be placed on %s: %s", order.client_order_id,
                       venue.name, exc.detail)
        return _save(order, status=ConversionOrder.Status.REJECTED, last_error=exc.detail)
    except VenueCallError as exc:
        # Nothing was sent yet: hand the order back for a later attempt.
        _release(order, f"venue unavailable: {exc.name}")
        raise VenueUnavailableError(f"{venue.name} cannot be reached.") from exc
    try:
        placed = venue_client.create_order(
            symbol=order.symbol, order_type=order_type, side=order.side, amount=amount,
            price=price, client_order_id=order.client_order_id,
            immediate_or_cancel=order_type == "limit")
    except VenueNoAnswerError as exc:
        # The request may have been executed: ask, never send again.
        logger.warning("Conversion order %s: no answer from %s (%s); looking it up",
                       order.client_order_id, venue.name, exc.name)
        _save(order, last_error=f"outcome unknown: {exc.name}")
        return conversion_order_refresh(order=order)
    except VenueDuplicateOrderError:
        logger.warning("Conversion order %s already at %s; looking it up", order.client_order_id,
                       venue.name)
        return conversion_order_refresh(order=order)
    except VenueRefusedError as exc:
        logger.warning("Conversion order %s rejected by %s: %s", order.client_order_id,
                       venue.name, exc.name)
        return _save(order, status=ConversionOrder.Status.REJECTED, last_error=str(exc)[:2000])
    except VenueCallError as exc:
        # Credentials, permissions: refused before anything was placed.
        _release(order, f"{exc.name}: {str(exc)[:1000]}")
        raise VenueUnavailableError(f"{venue.name} refused the order request.") from exc
    order = _save(order, venue_order_id=str(placed["id"]))
    return _record_fills(venue_client, order)


def conversion_order_refresh(*, order: ConversionOrder) -> ConversionOrder:
    """Settle an unknown or open order by asking the venue; never sends an order.

    Unknown without a venue id: looked up by client_order_id. If the venue has no such order
    well after it was sent (``LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS``), the request never
    reached it and the order goes back to ``created``, to be sent again under the same
    client_order_id (which the venue refuses as a duplicate should it turn up after all).
    """
    order.refresh_from_db()
    if order.status not in (ConversionOrder.Status.UNKNOWN, ConversionOrder.Status.OPEN):
        return order
    venue = order.venue
    try:
        venue_client = VenueClient.for_venue(venue)
        if not order.venue_order_id:
            venue_order_id = venue_client.order_id_by_client_order_id(
                symbol=order.symbol, client_order_id=order.client_order_id)
            if venue_order_id is None:
                return _not_found(order)
            order = _save(order, venue_order_id=venue_order_id)
    except VenueCallError as exc:
        logger.warning("Conversion order %s: lookup at %s failed: %s", order.client_order_id,
                       venue.name, exc.name)
        return _save(order, last_error=f"lookup failed: {exc.name}")
    return _record_fills(venue_client, order)


def _not_found(order: ConversionOrder) -> ConversionOrder:
    grace = getattr(settings, "LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS",
                    DEFAULT_UNKNOWN_ORDER_GRACE_SECONDS)
    sent_at = order.submitted_at or order.updated_at
    if (timezone.now() - sent_at).total_seconds() < grace:
        return _save(order, last_error="not found at the venue yet")
    logger.warning("Conversion order %s never reached %s; released to be sent again",
                   order.client_order_id, order.venue.name)
    _release(order, "not found at the venue after the grace period")
    order.refresh_from_db()
    return order


# -- firm-quote reservations -------------------------------------------------------------------


class ReservationError(LiquidityError):
    slug = "quote-not-usable"
    title = "The firm quote cannot be used"
    status = 409


class ReservationExpiredError(ReservationError):
    slug = "quote-expired"
    title = "The firm quote has expired"
    status = 410


def firm_quote_max_seconds() -> int:
    """The longest a firm quote holds venue depth (``LIQUIDITY_FIRM_QUOTE_MAX_SECONDS``)."""
    return int(getattr(settings, "LIQUIDITY_FIRM_QUOTE_MAX_SECONDS",
                       DEFAULT_FIRM_QUOTE_MAX_SECONDS))


def firm_quote_expiry(*, requested: dt.datetime | None = None) -> dt.datetime:
    """The server-side expiry of a firm quote: what the client asked for, capped at
    ``LIQUIDITY_FIRM_QUOTE_MAX_SECONDS`` from now (the cap when nothing was asked)."""
    cap = timezone.now() + dt.timedelta(seconds=firm_quote_max_seconds())
    if requested is None:
        return cap
    if requested <= timezone.now():
        raise InvalidConversionError("The requested expiry is in the past.")
    return min(requested, cap)


def liquidity_reserve(*, quote_reference: str, venue: Venue, symbol: str, amount_base: Decimal,
                      expires_at: dt.datetime | None = None,
                      side: str = ConversionOrder.Side.SELL) -> LiquidityReservation:
    """Hold ``amount_base`` of ``venue``'s ``symbol`` depth for the firm quote
    ``quote_reference`` until ``expires_at`` (capped, see ``firm_quote_expiry``).

    Idempotent by reference: the same terms return the first reservation, other terms raise
    ``ConflictError``. The unique constraint, not a prior read, decides.
    """
    _check_side(side)
    if not isinstance(amount_base, Decimal) or not amount_base.is_finite() or amount_base <= 0:
        raise InvalidConversionError("amount_base must be a positive Decimal.")
    expiry = firm_quote_expiry(requested=expires_at)
    try:
        with transaction.atomic():
            reservation, created = LiquidityReservation.objects.get_or_create(
                quote_reference=quote_reference,
                defaults={"venue": venue, "symbol": symbol, "side": side,
                          "amount_base": amount_base, "expires_at": expiry})
    except IntegrityError:
        reservation, created = LiquidityReservation.objects.get(
            quote_reference=quote_reference), False
    if not created and (reservation.venue_id, reservation.symbol, reservation.side,
                        reservation.amount_base) != (venue.pk, symbol, side, amount_base):
        raise ConflictError(f"Quote {quote_reference} already holds other liquidity.")
    if created:
        logger.info("Reserved %s %s on %s for quote %s until %s", amount_base, symbol,
                    venue.name, quote_reference, expiry.isoformat())
    return reservation


def _close(quote_reference: str, *, to_status: str) -> LiquidityReservation:
    with transaction.atomic():
        reservation = (LiquidityReservation.objects.select_for_update()
                       .filter(quote_reference=quote_reference).first())
        if reservation is None:
            raise ReservationError(f"No firm quote {quote_reference} holds liquidity.")
        if reservation.status == to_status == LiquidityReservation.Status.RELEASED:
            return reservation
        if reservation.status != LiquidityReservation.Status.ACTIVE:
            raise ReservationError(
                f"Firm quote {quote_reference} is already {reservation.status}.",
                extra={"reservation_status": reservation.status})
        if (to_status == LiquidityReservation.Status.CONSUMED
                and reservation.expires_at <= timezone.now()):
            reservation.status = LiquidityReservation.Status.EXPIRED
            reservation.closed_at = timezone.now()
            reservation.save(update_fields=["status", "closed_at", "updated_at"])
            expired = True
        else:
            reservation.status = to_status
            reservation.closed_at = timezone.now()
            reservation.save(update_fields=["status", "closed_at", "updated_at"])
            expired = False
    if expired:
        raise ReservationExpiredError(f"Firm quote {quote_reference} expired at "
                                      f"{reservation.expires_at.isoformat()}.")
    return reservation


def liquidity_reservation_consume(*, quote_reference: str) -> LiquidityReservation:
    """Use the firm quote's reservation, once. A second use raises ``ReservationError``; use
    after expiry raises ``ReservationExpiredError`` (and records the expiry). Locks the row, so
    of two concurrent uses exactly one wins."""
    return _close(quote_reference, to_status=LiquidityReservation.Status.CONSUMED)


def liquidity_reservation_release(*, quote_reference: str) -> LiquidityReservation:
    """Give the depth back before expiry; releasing twice is harmless. A consumed or expired
    reservation is left as it is and ``ReservationError`` raised."""
    return _close(quote_reference, to_status=LiquidityReservation.Status.RELEASED)


def liquidity_reservations_expire() -> int:
    """Mark active reservations past their expiry as expired; returns how many. The router
    already ignores them (it filters on ``expires_at``): this keeps the table's status honest
    for operators and reports."""
    now = timezone.now()
    count = LiquidityReservation.objects.filter(
        status=LiquidityReservation.Status.ACTIVE, expires_at__lte=now,
    ).update(status=LiquidityReservation.Status.EXPIRED, closed_at=now, updated_at=now)
    if count:
        logger.info("%s liquidity reservations expired", count)
    return count


def fx_reference_record(*, base: str, quote: str, rate: Decimal, source: str,
                        observed_at: dt.datetime) -> FxReferenceRate:
    """Store the latest reference rate for base/quote (an older observation never overwrites a
    newer one)."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise InvalidConversionError("rate must be a positive Decimal.")
    base, quote = base.upper(), quote.upper()
    with transaction.atomic():
        reference, created = FxReferenceRate.objects.select_for_update().get_or_create(
            base=base, quote=quote,
            defaults={"rate": rate, "source": source, "observed_at": observed_at})
        if not created and observed_at >= reference.observed_at:
            reference.rate, reference.source, reference.observed_at = rate, source, observed_at
            reference.save(update_fields=["rate", "source", "observed_at", "updated_at"])
    return reference


@dataclass(frozen=True)
class VenueBalances:
    """What one venue reports holding: total per currency (non-zero ones)."""

    venue_name: str
    totals: dict[str, Decimal]


def venue_balances_read() -> tuple[list[VenueBalances], list[str]]:
    """The balances of every active venue, and one error line (the venue's name and the kind
    of failure, never a message that could quote a request) per venue that could not be read."""
    balances, errors = [], []
    for venue in Venue.objects.filter(is_active=True).order_by("name"):
        try:
            totals = VenueClient.for_venue(venue).balances()
        except VenueCallError as exc:
            errors.append(f"venue {venue.name}: {exc.name}")
            continue
        balances.append(VenueBalances(venue_name=venue.name, totals=totals))
    return balances, errors
