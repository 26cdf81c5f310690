"""A venue market's order rules, and the one place that fits an amount or a price to them.

ccxt describes every market with ``precision`` (the amount step and the price tick, counted the
way the exchange's ``precisionMode`` says: decimal places, significant digits or tick size) and
``limits`` (smallest and largest amount, price and cost of an order). A quote that the venue
would refuse at order time must not be issued, so the router checks each candidate venue's size
against these rules when it prices, and the order later uses the very amount the quote used.

Rounding is ccxt's own ``decimal_to_precision`` (``client.truncate_to_precision``), always a
truncation for an amount: never sell more than was deposited.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.common.problems import DomainError

from .client import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    to_decimal,
    truncate_to_precision,
)


class VenueOrderRuleError(DomainError):
    """An order of this size (or price) would be refused by the venue's market rules."""

    slug = "venue-order-rules"
    title = "The venue cannot take an order of this size"
    status = 422


class OrderBelowVenueMinimumError(VenueOrderRuleError):
    slug = "below-venue-minimum"
    title = "The amount is below the smallest order the conversion venue takes"


class OrderAboveVenueMaximumError(VenueOrderRuleError):
    slug = "above-venue-maximum"
    title = "The amount is above the largest order the conversion venue takes"


class OrderPriceOutOfRangeError(VenueOrderRuleError):
    slug = "venue-price-out-of-range"
    title = "The price is outside the range the conversion venue accepts"


@dataclass(frozen=True)
class MarketRules:
    """Order rules of one market. ``None`` means the venue states no such rule.

    ``amount_precision`` / ``price_precision`` are as ccxt gives them: a number of places or of
    significant digits, or a tick, depending on ``precision_mode`` (ccxt's ``DECIMAL_PLACES``,
    ``SIGNIFICANT_DIGITS`` or ``TICK_SIZE``). Amounts are in the base asset, costs in the quote.
    """

    symbol: str
    precision_mode: int
    amount_precision: Decimal | None = None
    price_precision: Decimal | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    cost_min: Decimal | None = None
    cost_max: Decimal | None = None

    @property
    def amount_step(self) -> Decimal | None:
        """The smallest amount increment (for a number of significant digits there is no fixed
        step: None)."""
        return _step(self.amount_precision, self.precision_mode)

    @property
    def price_tick(self) -> Decimal | None:
        return _step(self.price_precision, self.precision_mode)


def decimal_text(value: Decimal | None) -> str:
    """A limit as plain text without trailing zeros (``1``, ``0.0005``), for problem details."""
    return "" if value is None else format(value.normalize(), "f")


def _step(precision: Decimal | None, mode: int) -> Decimal | None:
    if precision is None:
        return None
    if mode == TICK_SIZE:
        return precision
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision))
    return None


def _limit(limits: dict[str, Any], name: str, bound: str) -> Decimal | None:
    value = to_decimal(((limits or {}).get(name) or {}).get(bound))
    return value if value is not None and value > 0 else None


def market_rules(exchange: Any, symbol: str) -> MarketRules:
    """The rules of ``symbol`` on a venue whose markets are loaded: a ``client.VenueClient``
    (or a ccxt exchange object, which has the same ``market`` and ``precisionMode``)."""
    market = exchange.market(symbol)
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return MarketRules(
        symbol=symbol, precision_mode=exchange.precisionMode,
        amount_precision=to_decimal(precision.get("amount")),
        price_precision=to_decimal(precision.get("price")),
        amount_min=_limit(limits, "amount", "min"), amount_max=_limit(limits, "amount", "max"),
        price_min=_limit(limits, "price", "min"), price_max=_limit(limits, "price", "max"),
        cost_min=_limit(limits, "cost", "min"), cost_max=_limit(limits, "cost", "max"),
    )


def order_amount(rules: MarketRules, amount: Decimal) -> Decimal:
    """``amount`` truncated to the market's amount precision: what an order can carry. The
    residue (``amount - order_amount``) is not sold; the caller books it (conversion dust).
    May be zero for an amount smaller than one step."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValueError("amount must be a non-negative Decimal.")
    if rules.amount_precision is None or amount == 0:
        return amount
    return truncate_to_precision(amount, rules.amount_precision, rules.precision_mode)


def limit_price(rules: MarketRules, price: Decimal, *, side: str) -> Decimal:
    """A limit price on the market's tick that still takes ``price``: rounded up for a buy,
    down for a sell (ccxt's ``price_to_precision`` rounds to nearest, which can leave a buy
    short of the ask it has to reach)."""
    if rules.price_precision is None:
        return price
    truncated = truncate_to_precision(price, rules.price_precision, rules.precision_mode)
    if side == "sell" or truncated == price:
        return truncated
    tick = rules.price_tick
    if tick is None:  # significant digits: one unit of the last kept digit
        tick = Decimal(1).scaleb(truncated.as_tuple().exponent)
    return truncated + tick


def order_check(rules: MarketRules, *, amount: Decimal, price: Decimal | None = None,
                cost: Decimal | None = None) -> None:
    """Raise the ``VenueOrderRuleError`` that the venue's rules give an order of ``amount``
    (already on the step) at up to ``price`` for ``cost`` in the quote currency."""
    base, _, quote = rules.symbol.partition("/")
    market = rules.symbol
    amount_min, amount_max = decimal_text(rules.amount_min), decimal_text(rules.amount_max)
    cost_min, cost_max = decimal_text(rules.cost_min), decimal_text(rules.cost_max)
    if amount <= 0:
        step = decimal_text(rules.amount_step or rules.amount_precision)
        raise OrderBelowVenueMinimumError(
            f"Less than one {base} step ({step}) is left to convert on {market}.",
            extra={"venue_minimum": amount_min or step})
    if rules.amount_min is not None and amount < rules.amount_min:
        raise OrderBelowVenueMinimumError(
            f"{amount} {base} is below the venue's minimum order of {amount_min} {base} on "
            f"{market}.", extra={"venue_minimum": amount_min})
    if rules.amount_max is not None and amount > rules.amount_max:
        raise OrderAboveVenueMaximumError(
            f"{amount} {base} is above the venue's maximum order of {amount_max} {base} on "
            f"{market}.", extra={"venue_maximum": amount_max})
    if cost is not None and rules.cost_min is not None and cost < rules.cost_min:
        raise OrderBelowVenueMinimumError(
            f"An order worth {cost} {quote} is below the venue's minimum of {cost_min} {quote} "
            f"on {market}.", extra={"venue_minimum_cost": cost_min})
    if cost is not None and rules.cost_max is not None and cost > rules.cost_max:
        raise OrderAboveVenueMaximumError(
            f"An order worth {cost} {quote} is above the venue's maximum of {cost_max} {quote} "
            f"on {market}.", extra={"venue_maximum_cost": cost_max})
    if price is not None and (
            (rules.price_min is not None and price < rules.price_min)
            or (rules.price_max is not None and price > rules.price_max)):
        raise OrderPriceOutOfRangeError(
            f"The book's price {price} {quote} is outside the venue's accepted range "
            f"{decimal_text(rules.price_min) or 0}-{decimal_text(rules.price_max) or 'any'} "
            f"on {market}.")


__all__ = [
    "DECIMAL_PLACES",
    "SIGNIFICANT_DIGITS",
    "TICK_SIZE",
    "MarketRules",
    "OrderAboveVenueMaximumError",
    "OrderBelowVenueMinimumError",
    "OrderPriceOutOfRangeError",
    "VenueOrderRuleError",
    "decimal_text",
    "limit_price",
    "market_rules",
    "order_amount",
    "order_check",
]
