"""Indicative prices: what a quote would give now, without holding any exchange liquidity.

Cheap enough for every keystroke of a sender's app: nothing is written, and the corridor venue's
order book is read at most once per ``PRICES_BOOK_CACHE_SECONDS`` per process (the book's own
age limit still applies when it is read). The firm quote routes over every venue and may differ.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.core.cache import cache

from gateway.common.money import (
    currency_exponent,
    money_round,
    money_round_down,
    parse_amount,
    rate_round,
)
from gateway.partners.models import Partner
from gateway.transfers.models import Corridor
from gateway.transfers.services.quotes import (
    InvalidAmountError,
    QuoteUnavailableError,
    corridor_resolve,
    pricing_for,
)
from ramps.liquidity.models import ConversionOrder
from ramps.liquidity.router import reserved_depth, walk_book_after
from ramps.liquidity.services import LiquidityError, _book_levels, _fetch_book


@dataclass(frozen=True)
class IndicativePrice:
    corridor: Corridor
    amount_in: Decimal
    amount_fee: Decimal
    fee_fixed: Decimal
    fee_variable: Decimal
    margin_rate: Decimal
    amount_out: Decimal
    rate: Decimal
    book_time: datetime


def _book_bids(corridor: Corridor) -> tuple[list[tuple[Decimal, Decimal]], datetime]:
    key = f"prices:book:{corridor.venue_id}:{corridor.venue_symbol}"
    cached = cache.get(key)
    if cached is None:
        book, book_time = _fetch_book(corridor.venue, corridor.venue_symbol)
        cached = (_book_levels(book["bids"]), book_time)
        cache.set(key, cached, timeout=getattr(settings, "PRICES_BOOK_CACHE_SECONDS", 2))
    return cached


def _amount(text: str, currency: str, name: str) -> Decimal:
    try:
        amount = parse_amount(text, currency)
    except (TypeError, ValueError) as exc:
        raise InvalidAmountError(f"{name}: {exc}") from exc
    if amount <= 0:
        raise InvalidAmountError(f"{name} must be more than 0.")
    return amount


def _price_sell(*, partner: Partner, corridor: Corridor, amount: Decimal) -> IndicativePrice:
    symbol = corridor.token.symbol
    if not corridor.min_amount_in <= amount <= corridor.max_amount_in:
        raise InvalidAmountError(
            f"amount_in must be between {money_round(corridor.min_amount_in, symbol)} and "
            f"{money_round(corridor.max_amount_in, symbol)} {symbol}.")
    pricing = pricing_for(partner=partner, corridor=corridor)
    fee_variable = money_round(amount * pricing.fee_rate, symbol, rounding=ROUND_UP)
    fee_fixed = money_round(pricing.fee_fixed, symbol)
    convertible = amount - fee_fixed - fee_variable
    if convertible <= 0:
        raise InvalidAmountError(
            f"amount_in does not cover the fee of {fee_fixed + fee_variable} {symbol}.")
    try:
        levels, book_time = _book_bids(corridor)
    except LiquidityError as exc:
        raise QuoteUnavailableError(exc.detail) from exc
    held = reserved_depth(venue=corridor.venue, symbol=corridor.venue_symbol,
                          side=ConversionOrder.Side.SELL)
    gross = walk_book_after(levels, held, convertible)
    if gross is None:
        raise QuoteUnavailableError(
            f"The market cannot take {convertible} {symbol} now; try a smaller amount.")
    net = gross * (Decimal(1) - corridor.venue.taker_fee_rate)
    rate = rate_round(net / convertible * (Decimal(1) - pricing.margin_rate))
    amount_out = money_round_down(
        convertible * rate, corridor.currency_out,
        exponent=corridor.rail.amount_exponent if corridor.rail is not None else None)
    if amount_out <= 0:
        raise InvalidAmountError("amount_in is too small to pay anything out.")
    return IndicativePrice(corridor=corridor, amount_in=amount,
                           amount_fee=fee_fixed + fee_variable, fee_fixed=fee_fixed,
                           fee_variable=fee_variable, margin_rate=pricing.margin_rate,
                           amount_out=amount_out, rate=rate, book_time=book_time)


def price_indicative(*, partner: Partner, asset: str, currency_out: str,
                     amount_in: str | None = None,
                     amount_out: str | None = None) -> IndicativePrice:
    """The price of selling ``amount_in`` of ``asset`` for ``currency_out``, or of receiving
    ``amount_out`` (the smallest amount_in that pays at least that, as far as the book shows).
    Nothing is reserved or stored."""
    if (amount_in is None) == (amount_out is None):
        raise InvalidAmountError("Give exactly one of amount_in and amount_out.")
    corridor = corridor_resolve(sell_asset=asset, currency_out=currency_out)
    symbol = corridor.token.symbol
    if amount_in is not None:
        return _price_sell(partner=partner, corridor=corridor,
                           amount=_amount(amount_in, symbol, "amount_in"))
    wanted = _amount(amount_out, corridor.currency_out, "amount_out")
    unit = Decimal(1).scaleb(-currency_exponent(symbol))
    # Start from the price of the smallest amount, then correct the estimate with the rate at
    # the estimated size (the book's depth makes the rate fall as the size grows).
    guess = _price_sell(partner=partner, corridor=corridor,
                        amount=max(corridor.min_amount_in, unit))
    price = guess
    for _ in range(4):
        pricing = pricing_for(partner=partner, corridor=corridor)
        needed = (wanted / price.rate + pricing.fee_fixed) / (Decimal(1) - pricing.fee_rate)
        needed = money_round(needed, symbol, rounding=ROUND_UP) + unit
        if needed > corridor.max_amount_in:
            raise InvalidAmountError(
                f"{wanted} {corridor.currency_out} needs more than the corridor's largest "
                f"amount_in of {money_round(corridor.max_amount_in, symbol)} {symbol}.")
        needed = max(needed, corridor.min_amount_in)
        price = _price_sell(partner=partner, corridor=corridor, amount=needed)
        if price.amount_out >= wanted:
            return price
    raise QuoteUnavailableError(
        f"{wanted} {corridor.currency_out} cannot be priced within the corridor's limits.")
