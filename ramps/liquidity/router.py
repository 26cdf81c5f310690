"""Best execution: price one size on every eligible venue and pick the best net outcome.

``route_quote`` fetches each venue's book once, walks it at the size (VWAP, not top of book),
skipping the depth already held by active firm-quote reservations, takes off the venue's taker
fee and the payout rail's fee, and returns the best candidate with every candidate's breakdown.
A venue that cannot serve (thin book, stale book, outside its order limits, unreachable) is
listed with its reason and left out.

Each venue prices the size it can really sell: the amount truncated to its market's amount step
(``rules.order_amount``), checked against the market's minimum and maximum amount, cost and price
(``rules.order_check``), so that no quote promises an order the venue would refuse. When every
venue refuses the size by its rules, the rule's own error is raised (a 422 for the sender), not
``NoRouteError``. When no venue quotes the pair directly, a venue market
``base/X`` is crossed with a fresh ``FxReferenceRate`` X/quote (USDC/USD x USD/KES).

Nothing is rounded here: amounts are exact Decimals; the caller rounds what it promises with
``gateway.common.money``. Reads only (plus venue calls); reservations are written by
``services.liquidity_reserve``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from gateway.common.money import money_round

from .client import VenueCallError, VenueClient
from .models import ConversionOrder, FxReferenceRate, LiquidityReservation, Venue
from .rules import (
    MarketRules,
    OrderAboveVenueMaximumError,
    OrderBelowVenueMinimumError,
    VenueOrderRuleError,
    decimal_text,
    market_rules,
    order_amount,
    order_check,
)
from .services import (
    InsufficientLiquidityError,
    InvalidConversionError,
    LiquidityError,
    _book_levels,
    _check_side,
    _fetch_book,
    conversion_order_amount,
    liquidity_reserve,
)

logger = logging.getLogger(__name__)

DEFAULT_FX_MAX_AGE_SECONDS = 300


class NoRouteError(LiquidityError):
    slug = "no-route"
    title = "No venue can convert this amount now"
    status = 503


@dataclass(frozen=True)
class Candidate:
    """One venue's answer for the size: its price and fees, or why it cannot serve."""

    venue: Venue
    symbol: str
    vwap: Decimal | None = None
    amount_quote_gross: Decimal | None = None
    venue_fee: Decimal | None = None
    fx_rate: Decimal | None = None
    fx_source: str = ""
    amount_quote_net: Decimal | None = None
    book_timestamp: dt.datetime | None = None
    reason: str = ""
    # The size as the venue takes it (truncated to its amount step); what is priced and sold.
    amount_base: Decimal | None = None
    # Set when the venue's order rules refuse the size (not a market condition).
    rule_error: VenueOrderRuleError | None = None

    @property
    def eligible(self) -> bool:
        return self.amount_quote_net is not None

    def as_dict(self) -> dict[str, str | None]:
        text = lambda value: None if value is None else str(value)  # noqa: E731
        return {"venue": self.venue.name, "symbol": self.symbol, "vwap": text(self.vwap),
                "amount_quote_gross": text(self.amount_quote_gross),
                "venue_fee": text(self.venue_fee), "fx_rate": text(self.fx_rate),
                "fx_source": self.fx_source or None,
                "amount_quote_net": text(self.amount_quote_net),
                "amount_base": text(self.amount_base), "reason": self.reason or None}


@dataclass(frozen=True)
class RoutedPrice:
    """The chosen venue and what converting ``amount_base`` there gives, all in ``quote``.

    ``amount_base`` is the order size on the chosen venue: ``amount_requested`` truncated to the
    venue's amount step. The residue is not sold (the caller books it as conversion dust).

    For a sell: ``amount_quote_net = amount_quote_gross - venue_fee`` (crossed with the FX
    reference when ``fx_rate`` is set) ``- payout_fee``; ``rate`` is that per base unit, the
    number to compare venues on. For a buy the fees are added (what the base costs).
    """

    venue: Venue
    symbol: str
    side: str
    base: str
    quote: str
    amount_base: Decimal
    vwap: Decimal
    amount_quote_gross: Decimal
    venue_fee: Decimal
    payout_fee: Decimal
    amount_quote_net: Decimal
    rate: Decimal
    fx_rate: Decimal | None
    fx_source: str
    book_timestamp: dt.datetime
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    fetch_seconds: float = 0.0
    compute_seconds: float = 0.0
    amount_requested: Decimal | None = None

    def breakdown(self) -> dict[str, object]:
        return {
            "venue": self.venue.name, "symbol": self.symbol, "side": self.side,
            "amount_base": str(self.amount_base),
            "amount_requested": str(self.amount_requested or self.amount_base),
            "vwap": str(self.vwap),
            "amount_quote_gross": str(self.amount_quote_gross),
            "venue_fee": str(self.venue_fee), "venue_fee_rate": str(self.venue.taker_fee_rate),
            "fx_rate": None if self.fx_rate is None else str(self.fx_rate),
            "fx_source": self.fx_source or None, "payout_fee": str(self.payout_fee),
            "amount_quote_net": str(self.amount_quote_net), "rate": str(self.rate),
            "candidates": [candidate.as_dict() for candidate in self.candidates],
        }


def walk_book_after(levels: list[tuple[Decimal, Decimal]], skip: Decimal,
                    amount: Decimal) -> Decimal | None:
    """Quote amount for taking ``amount`` from ``levels`` (best first) after the first ``skip``
    units, which are held for other quotes; None when the book is too thin."""
    walked = _walk(levels, skip, amount)
    return None if walked is None else walked[0]


def _walk(levels: list[tuple[Decimal, Decimal]], skip: Decimal,
          amount: Decimal) -> tuple[Decimal, Decimal] | None:
    """(quote amount, worst price reached) for ``walk_book_after``."""
    remaining = amount
    amount_quote = Decimal(0)
    for price, volume in levels:
        if skip > 0:
            used = min(volume, skip)
            skip -= used
            volume -= used
            if volume == 0:
                continue
        take = min(volume, remaining)
        amount_quote += price * take
        remaining -= take
        if remaining == 0:
            return amount_quote, price
    return None


def reserved_depth(*, venue: Venue, symbol: str, side: str) -> Decimal:
    """Base amount held on ``venue``'s ``symbol`` book by active, unexpired reservations."""
    total = LiquidityReservation.objects.filter(
        venue=venue, symbol=symbol, side=side, status=LiquidityReservation.Status.ACTIVE,
        expires_at__gt=timezone.now(),
    ).aggregate(total=Sum("amount_base"))["total"]
    return total or Decimal(0)


def fx_reference_get(*, base: str, quote: str) -> FxReferenceRate | None:
    """The reference rate base/quote if one is known and fresh enough to price on."""
    reference = FxReferenceRate.objects.filter(base=base, quote=quote).first()
    if reference is None:
        return None
    max_age = getattr(settings, "LIQUIDITY_FX_MAX_AGE_SECONDS", DEFAULT_FX_MAX_AGE_SECONDS)
    if (timezone.now() - reference.observed_at).total_seconds() > max_age:
        logger.info("FX reference %s/%s from %s is stale (%s)", base, quote, reference.source,
                    reference.observed_at.isoformat())
        return None
    return reference


def _routes(exchange: VenueClient, base: str,
            quote: str) -> list[tuple[str, FxReferenceRate | None]]:
    """(venue symbol, FX leg) pairs that turn base into quote on a venue: the direct market
    first, else each ``base/X`` market whose X has a fresh reference rate to ``quote``."""
    direct = f"{base}/{quote}"
    if direct in exchange.markets:
        return [(direct, None)]
    routes: list[tuple[str, FxReferenceRate | None]] = []
    for symbol, market in exchange.markets.items():
        if market.get("base") != base or not market.get("spot", True):
            continue
        reference = fx_reference_get(base=market["quote"], quote=quote)
        if reference is not None:
            routes.append((symbol, reference))
    return routes


def _price_on(venue: Venue, symbol: str, reference: FxReferenceRate | None, *, side: str,
              amount_base: Decimal, timings: dict[str, float],
              rules: MarketRules | None = None) -> Candidate:
    requested = amount_base
    if rules is not None:
        amount_base = order_amount(rules, amount_base)
        try:
            order_check(rules, amount=amount_base)
        except VenueOrderRuleError as exc:
            return Candidate(venue=venue, symbol=symbol, reason=exc.detail,
                             amount_base=amount_base, rule_error=exc)
    started = time.perf_counter()
    try:
        book, book_time = _fetch_book(venue, symbol)
    except LiquidityError as exc:
        timings["fetch"] += time.perf_counter() - started
        return Candidate(venue=venue, symbol=symbol, reason=exc.detail)
    fetched = time.perf_counter()
    timings["fetch"] += fetched - started
    try:
        levels = _book_levels(book["bids"] if side == ConversionOrder.Side.SELL else book["asks"])
        held = reserved_depth(venue=venue, symbol=symbol, side=side)
        walked = _walk(levels, held, amount_base)
        if walked is None:
            depth = sum((volume for _, volume in levels), Decimal(0)) - held
            return Candidate(venue=venue, symbol=symbol, book_timestamp=book_time,
                             reason=f"book too thin: {max(depth, Decimal(0))} free of "
                                    f"{requested}")
        gross, worst_price = walked
        if rules is not None:
            try:
                order_check(rules, amount=amount_base, price=worst_price, cost=gross)
            except VenueOrderRuleError as exc:
                return Candidate(venue=venue, symbol=symbol, book_timestamp=book_time,
                                 reason=exc.detail, amount_base=amount_base, rule_error=exc)
        fee = gross * venue.taker_fee_rate
        net = gross - fee if side == ConversionOrder.Side.SELL else gross + fee
        fx_rate = None
        if reference is not None:
            fx_rate = reference.rate
            net *= fx_rate
        return Candidate(venue=venue, symbol=symbol, vwap=gross / amount_base,
                         amount_quote_gross=gross, venue_fee=fee, fx_rate=fx_rate,
                         fx_source=reference.source if reference else "", amount_quote_net=net,
                         book_timestamp=book_time, amount_base=amount_base)
    finally:
        timings["compute"] += time.perf_counter() - fetched


def route_quote(*, venues: Iterable[Venue], side: str, amount_base: Decimal,
                symbol: str | None = None, base: str | None = None, quote: str | None = None,
                payout_fee: Decimal = Decimal(0)) -> RoutedPrice:
    """Price ``amount_base`` on every eligible venue and return the best (see module doc).

    Give either ``symbol`` ("USDC/KES") or ``base`` and ``quote``. ``payout_fee`` is the payout
    rail's fee in the quote currency, taken off a sell's proceeds (added to a buy's cost).
    Raises ``NoRouteError`` (with every candidate's reason) when no venue can serve, and
    ``InvalidConversionError`` for a bad side, amount or pair.
    """
    _check_side(side)
    if not isinstance(amount_base, Decimal) or not amount_base.is_finite() or amount_base <= 0:
        raise InvalidConversionError("amount_base must be a positive Decimal.")
    if symbol is not None:
        base, _, quote = symbol.partition("/")
    if not base or not quote:
        raise InvalidConversionError("Give a symbol like 'USDC/KES', or base and quote.")
    base, quote = base.upper(), quote.split(":")[0].upper()
    timings = {"fetch": 0.0, "compute": 0.0}
    candidates: list[Candidate] = []
    for venue in venues:
        if not venue.is_active:
            continue
        if venue.max_order_base is not None and amount_base > venue.max_order_base:
            reason = f"above the venue's order cap of {venue.max_order_base}"
            candidates.append(Candidate(
                venue=venue, symbol=f"{base}/{quote}", reason=reason,
                rule_error=OrderAboveVenueMaximumError(
                    f"{amount_base} {base} is {reason} {base}.",
                    extra={"venue_maximum": decimal_text(venue.max_order_base)})))
            continue
        if venue.min_order_base is not None and amount_base < venue.min_order_base:
            reason = f"below the venue's minimum order of {venue.min_order_base}"
            candidates.append(Candidate(
                venue=venue, symbol=f"{base}/{quote}", reason=reason,
                rule_error=OrderBelowVenueMinimumError(
                    f"{amount_base} {base} is {reason} {base}.",
                    extra={"venue_minimum": decimal_text(venue.min_order_base)})))
            continue
        started = time.perf_counter()
        try:
            exchange = VenueClient.for_venue(venue)
            routes = _routes(exchange, base, quote)
            rules = {venue_symbol: market_rules(exchange, venue_symbol)
                     for venue_symbol, _ in routes}
        except VenueCallError as exc:  # one unreachable venue must not stop routing
            logger.warning("Markets of %s unavailable: %s", venue.name, exc.name)
            candidates.append(Candidate(venue=venue, symbol=f"{base}/{quote}",
                                        reason=f"markets unavailable: {exc.name}"))
            continue
        finally:
            timings["fetch"] += time.perf_counter() - started
        if not routes:
            candidates.append(Candidate(venue=venue, symbol=f"{base}/{quote}",
                                        reason="no market and no fresh FX reference"))
        for venue_symbol, reference in routes:
            candidates.append(_price_on(venue, venue_symbol, reference, side=side,
                                        amount_base=amount_base, timings=timings,
                                        rules=rules[venue_symbol]))
    started = time.perf_counter()
    eligible = [candidate for candidate in candidates if candidate.eligible]
    if not eligible:
        extra = {"candidates": [candidate.as_dict() for candidate in candidates]}
        refused = [c.rule_error for c in candidates if c.rule_error is not None]
        if candidates and len(refused) == len(candidates):
            # Every venue's rules refuse the size: the sender has to change it, waiting won't
            # help. The least demanding refusal is the one to report.
            below = [e for e in refused if isinstance(e, OrderBelowVenueMinimumError)]
            error = below[0] if len(below) == len(refused) else refused[0]
            raise type(error)(error.detail, extra={**error.extra, **extra})
        thin = all(c.reason.startswith("book too thin") for c in candidates) and candidates
        error_class = InsufficientLiquidityError if thin else NoRouteError
        raise error_class(
            f"No venue can {side} {amount_base} {base} for {quote}.",
            extra={"candidates": [candidate.as_dict() for candidate in candidates]},
        )
    # Best for a sell: most quote received; for a buy: least quote paid. Ties go to the venue
    # listed first (stable order), so the choice is deterministic.
    if side == ConversionOrder.Side.SELL:
        best = max(eligible, key=lambda c: c.amount_quote_net)
        net = best.amount_quote_net - payout_fee
    else:
        best = min(eligible, key=lambda c: c.amount_quote_net)
        net = best.amount_quote_net + payout_fee
    timings["compute"] += time.perf_counter() - started
    sold = best.amount_base if best.amount_base is not None else amount_base
    return RoutedPrice(
        venue=best.venue, symbol=best.symbol, side=side, base=base, quote=quote,
        amount_base=sold, vwap=best.vwap, amount_quote_gross=best.amount_quote_gross,
        venue_fee=best.venue_fee, payout_fee=payout_fee, amount_quote_net=net,
        rate=net / sold, fx_rate=best.fx_rate, fx_source=best.fx_source,
        book_timestamp=best.book_timestamp, candidates=tuple(candidates),
        fetch_seconds=timings["fetch"], compute_seconds=timings["compute"],
        amount_requested=amount_base,
    )


def route_quote_firm(*, quote_reference: str, venues: Iterable[Venue], side: str,
                     amount_base: Decimal, symbol: str | None = None, base: str | None = None,
                     quote: str | None = None, payout_fee: Decimal = Decimal(0),
                     expires_at: dt.datetime | None = None
                     ) -> tuple[RoutedPrice, LiquidityReservation]:
    """``route_quote``, then hold the chosen depth for ``quote_reference``.

    The candidate venues' rows are locked (in id order) from pricing to reservation, so two
    firm quotes on one venue are priced one after the other and the second walks the book past
    the first one's depth. Venue calls made under the lock carry ccxt's timeout.
    """
    venue_list = [venue for venue in venues if venue.is_active]
    with transaction.atomic():
        list(Venue.objects.select_for_update().filter(pk__in=[v.pk for v in venue_list])
             .order_by("pk").values_list("pk", flat=True))
        routed = route_quote(venues=venue_list, side=side, amount_base=amount_base,
                             symbol=symbol, base=base, quote=quote, payout_fee=payout_fee)
        reservation = liquidity_reserve(quote_reference=quote_reference, venue=routed.venue,
                                        symbol=routed.symbol, side=side,
                                        amount_base=routed.amount_base, expires_at=expires_at)
    return routed, reservation


def venue_sale_size(*, venue: Venue, symbol: str, amount_quote: Decimal) -> Decimal:
    """How much of ``symbol``'s base to sell on ``venue`` for about ``amount_quote`` of its
    quote currency now: sized at the top of the book, then priced at that size, then put on the
    venue's amount step (truncated), so that the venue takes the order. Raises
    ``LiquidityError`` when the venue cannot price or size it (the caller proposes without a
    size)."""
    base_symbol = symbol.split("/")[0]
    probe = route_quote(venues=[venue], symbol=symbol, side="sell", amount_base=Decimal(1))
    amount_base = money_round(amount_quote / probe.rate, base_symbol)
    routed = route_quote(venues=[venue], symbol=symbol, side="sell", amount_base=amount_base)
    return conversion_order_amount(venue=venue, symbol=symbol,
                                   amount=money_round(amount_quote / routed.rate, base_symbol))
