"""Quotes: corridors, per-partner pricing, routed firm quotes, and the errors the API shows."""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.utils import timezone

from gateway.common.money import (
    currency_exponent,
    money_round,
    money_round_down,
    parse_amount,
    rate_round,
)
from gateway.common.problems import DomainError
from gateway.partners.models import Partner
from gateway.transfers.models import Corridor, PartnerPricing, Quote
from gateway.treasury.services import (
    FloatShortError,
    treasury_float_check,
)
from ramps.liquidity.router import NoRouteError, route_quote_firm
from ramps.liquidity.rules import OrderBelowVenueMinimumError, decimal_text
from ramps.liquidity.selectors import venues_active
from ramps.liquidity.services import (
    InsufficientLiquidityError,
    StaleMarketDataError,
    VenueUnavailableError,
    liquidity_reservation_release,
)
from ramps.payouts.rails import (
    CASH_PICKUP_RULES,
    RecipientNotPayableError,
    rail_recipient_validate,
)

logger = logging.getLogger(__name__)


# --- errors the API shows -------------------------------------------------------------------


class UnknownCorridorError(DomainError):
    slug = "unknown-corridor"
    title = "No corridor for this asset and currency"
    status = 422


class InvalidAmountError(DomainError):
    slug = "invalid-amount"
    title = "Invalid amount"
    status = 422


class QuoteUnavailableError(DomainError):
    slug = "quote-unavailable"
    title = "No price can be given right now"
    status = 503


class QuoteExpiredError(DomainError):
    slug = "quote-expired"
    title = "The quote has expired"
    status = 422


class QuoteUsedError(DomainError):
    slug = "quote-already-used"
    title = "The quote was already used for another transfer"
    status = 409


class InvalidRecipientError(DomainError):
    slug = "invalid-recipient"
    title = "The recipient cannot be paid on this corridor"
    status = 422


class PayoutBelowMinimumError(DomainError):
    slug = "below-payout-minimum"
    title = "The amount paid out would be below the payout rail's minimum"
    status = 422


class PayoutAboveMaximumError(DomainError):
    slug = "above-payout-maximum"
    title = "The amount paid out would be above the payout rail's maximum"
    status = 422


# --- recipients -----------------------------------------------------------------------------


def recipient_phone_validate(*, corridor: Corridor, phone: str,
                             payout_method: str | None = None, region: str | None = None) -> str:
    """The recipient's number in E.164 if the corridor can pay it, checked before any money
    moves: the rail's own rules (country, mobile line, the operator whose wallets it pays), or
    for cash pickup a number that can receive the redemption code by SMS. ``payout_method``
    overrides the corridor's (a correction that switches to cash pickup). ``region`` (the
    recipient's country, ISO 3166) reads a national number for cash pickup, which pays in any
    country; a mobile-money rail reads it in its own country."""
    method = payout_method or corridor.payout_method
    try:
        if method == Corridor.PayoutMethod.CASH_PICKUP or corridor.rail is None:
            return CASH_PICKUP_RULES.check(phone, default_region=(region or "").upper() or None)
        return rail_recipient_validate(corridor.rail, phone)
    except RecipientNotPayableError as exc:
        raise InvalidRecipientError(f"recipient.phone_number: {exc.detail}",
                                    extra=exc.extra) from None


# --- quotes ---------------------------------------------------------------------------------


def corridor_resolve(*, sell_asset: str, currency_out: str) -> Corridor:
    """Find the active corridor for an asset (CAIP-19 id, ``SYMBOL:chain`` or ``SYMBOL``)."""
    # A token no longer accepted is still watched (its deposits are flagged and refunded),
    # never quoted.
    corridors = Corridor.objects.filter(is_active=True, token__is_accepted=True,
                                        currency_out=currency_out.upper())
    corridors = corridors.select_related("token__chain", "venue", "rail")
    asset = sell_asset.strip()
    if "/erc20:" in asset:
        chain_part, _, contract = asset.partition("/erc20:")
        matches = [c for c in corridors if c.token.chain.caip2 == chain_part
                   and c.token.contract_address.lower() == contract.lower()]
    elif ":" in asset:
        symbol, _, chain_name = asset.partition(":")
        matches = [c for c in corridors if c.token.symbol == symbol.upper()
                   and chain_name.lower() in (c.token.chain.name.lower(), c.token.chain.caip2)]
    else:
        matches = [c for c in corridors if c.token.symbol == asset.upper()]
    if len(matches) != 1:
        raise UnknownCorridorError(
            f"No {'unique ' if matches else ''}active corridor from {sell_asset!r} to "
            f"{currency_out!r}." + (" Name the chain (e.g. USDC:polygon)." if matches else "")
        )
    return matches[0]


@dataclass(frozen=True)
class Pricing:
    fee_fixed: Decimal
    fee_rate: Decimal
    margin_rate: Decimal


def pricing_for(*, partner: Partner, corridor: Corridor) -> Pricing:
    """The corridor's fees and margin, with the partner's own values where the operator set
    them (``PartnerPricing``)."""
    override = PartnerPricing.objects.filter(partner=partner, corridor=corridor).first()

    def pick(name: str) -> Decimal:
        value = getattr(override, name, None) if override is not None else None
        return value if value is not None else getattr(corridor, name)

    return Pricing(fee_fixed=pick("fee_fixed"), fee_rate=pick("fee_rate"),
                   margin_rate=pick("margin_rate"))


def sell_amount_covering(*, convertible: Decimal, corridor: Corridor,
                         pricing: "Pricing") -> Decimal:
    """The smallest ``sell_amount`` (in the token's units) that leaves at least ``convertible``
    to convert once the fixed and variable fees are taken, as ``quote_create`` takes them."""
    symbol = corridor.token.symbol
    unit = Decimal(1).scaleb(-currency_exponent(symbol))
    fee_fixed = money_round(pricing.fee_fixed, symbol)

    def left(amount: Decimal) -> Decimal:
        return amount - fee_fixed - money_round(amount * pricing.fee_rate, symbol,
                                                rounding=ROUND_UP)

    amount = money_round((convertible + fee_fixed) / (Decimal(1) - pricing.fee_rate), symbol,
                         rounding=ROUND_UP)
    while left(amount) < convertible:  # the variable fee rounds up: at most a unit or two
        amount += unit
    while amount > unit and left(amount - unit) >= convertible:
        amount -= unit
    return max(amount, money_round(corridor.min_amount_in, symbol))


def venue_minimum_in_sell_terms(*, error: OrderBelowVenueMinimumError, corridor: Corridor,
                                pricing: "Pricing", amount: Decimal,
                                fee_total: Decimal) -> OrderBelowVenueMinimumError:
    """The venue's refusal of a too small order, said in the sender's terms: the venue speaks
    of the amount left after the fee (``0.49 USDC is below ... 1 USDC``), which a sender who
    asked to sell 1.00, within the corridor's advertised minimum, cannot act on. The answer
    names the smallest ``sell_amount`` that clears the venue's minimum (``min_sell_amount``),
    where the venue gave its minimum as an amount of the token."""
    symbol = corridor.token.symbol
    try:
        venue_minimum = Decimal(str(error.extra.get("venue_minimum", "")))
    except ArithmeticError:
        return error
    if not venue_minimum.is_finite() or venue_minimum <= 0:
        return error
    smallest = sell_amount_covering(convertible=venue_minimum, corridor=corridor,
                                    pricing=pricing)
    if smallest <= amount:  # refused for another reason (the venue's step): keep its words
        return error
    detail = (f"Selling {money_round(amount, symbol)} {symbol} leaves "
              f"{money_round(amount - fee_total, symbol)} {symbol} to convert after the fee of "
              f"{fee_total} {symbol}, below the conversion venue's minimum order of "
              f"{decimal_text(venue_minimum)} {symbol}. ")
    if smallest <= corridor.max_amount_in:
        detail += f"Sell at least {smallest} {symbol}."
    return OrderBelowVenueMinimumError(detail, extra={
        **error.extra, "min_sell_amount": str(smallest)})


def quote_create(*, partner: Partner, sell_asset: str, amount_in: str,
                 currency_out: str, recipient_phone: str = "") -> Quote:
    """A firm quote for selling ``amount_in``, or the problem that stops the pipeline from
    executing it, found now rather than after the money moved: the recipient's number (when
    given) against the rail's rules, the corridor's limits, each venue's order rules (amount
    step, minimum and maximum size and cost, price range), the rail's payout limits and float.

    The amount sold is the convertible amount truncated to the chosen venue's step (the order
    later carries exactly that amount); the residue is shown as ``fee_details.rounding`` and
    booked as conversion dust when the order fills.
    """
    corridor = corridor_resolve(sell_asset=sell_asset, currency_out=currency_out)
    if recipient_phone:
        recipient_phone_validate(corridor=corridor, phone=recipient_phone)
    symbol = corridor.token.symbol
    try:
        amount = parse_amount(amount_in, symbol)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidAmountError(str(exc) or f"{amount_in!r} is not a usable amount.") from exc
    if not corridor.min_amount_in <= amount <= corridor.max_amount_in:
        raise InvalidAmountError(
            f"sell_amount must be between {money_round(corridor.min_amount_in, symbol)} and "
            f"{money_round(corridor.max_amount_in, symbol)} {symbol}."
        )
    pricing = pricing_for(partner=partner, corridor=corridor)
    fee_variable = money_round(amount * pricing.fee_rate, symbol, rounding=ROUND_UP)
    fee_fixed = money_round(pricing.fee_fixed, symbol)
    fee_total = fee_fixed + fee_variable
    convertible = amount - fee_total
    if convertible <= 0:
        raise InvalidAmountError(f"sell_amount does not cover the fee of {fee_total} {symbol}.")
    public_id = uuid.uuid4()
    try:
        # Best execution: every active venue prices the size (VWAP, taker fee); the winner's
        # depth is held for this quote until it expires or is used.
        routed, reservation = route_quote_firm(
            quote_reference=str(public_id), venues=venues_active(),
            side="sell", amount_base=convertible, symbol=corridor.venue_symbol,
            expires_at=timezone.now() + timedelta(seconds=settings.QUOTE_TTL_SECONDS),
        )
    except (NoRouteError, InsufficientLiquidityError, StaleMarketDataError,
            VenueUnavailableError) as exc:
        raise QuoteUnavailableError(exc.detail) from exc
    except OrderBelowVenueMinimumError as exc:
        raise venue_minimum_in_sell_terms(error=exc, corridor=corridor, pricing=pricing,
                                          amount=amount, fee_total=fee_total) from exc
    # What the order will carry: the venue's step, truncated (the router priced this amount).
    sold = routed.amount_base
    rounding = convertible - sold
    rate = rate_round(routed.rate * (Decimal(1) - pricing.margin_rate))
    try:
        # Rounded down to what the rail can pay (M-Pesa pays whole shillings: exponent 0).
        amount_out = money_round_down(
            sold * rate, corridor.currency_out,
            exponent=corridor.rail.amount_exponent if corridor.rail is not None else None)
    except ValueError as exc:  # a rail set to more decimal places than its currency has
        liquidity_reservation_release(quote_reference=str(public_id))
        raise QuoteUnavailableError(
            f"The payout rail {corridor.rail.code} is misconfigured: {exc}") from exc
    try:
        if amount_out <= 0:
            raise InvalidAmountError("sell_amount is too small to pay anything out.")
        if corridor.rail is not None:
            payout_limits_check(rail=corridor.rail, amount_out=amount_out)
            # A quote the rail's float cannot cover is refused now rather than stranded later.
            treasury_float_check(rail_code=corridor.rail.code, currency=corridor.currency_out,
                                 amount=amount_out)
    except FloatShortError as exc:
        liquidity_reservation_release(quote_reference=str(public_id))
        raise QuoteUnavailableError(f"Payout float is short: {exc.detail}") from exc
    except (InvalidAmountError, PayoutBelowMinimumError, PayoutAboveMaximumError):
        liquidity_reservation_release(quote_reference=str(public_id))
        raise
    return Quote.objects.create(
        public_id=public_id, partner=partner, corridor=corridor, venue=routed.venue,
        sell_asset=symbol, amount_in=amount, amount_fee=fee_total, amount_out=amount_out,
        currency_out=corridor.currency_out, rate=rate, venue_rate=rate_round(routed.vwap),
        fee_details={"fixed": str(fee_fixed), "variable": str(fee_variable),
                     "rounding": str(money_round(rounding, symbol)),
                     "amount_sold": str(money_round(sold, symbol)),
                     "margin_rate": str(pricing.margin_rate), "asset": symbol,
                     "venue": routed.venue.name, "venue_fee": str(routed.venue_fee),
                     "venue_fee_currency": routed.quote},
        expires_at=reservation.expires_at,
    )


def payout_limits_check(*, rail, amount_out: Decimal) -> None:
    """The rail's smallest and largest payout (``Rail.min_amount`` / ``max_amount``), checked on
    the amount the recipient would get."""
    currency = rail.currency
    minimum, maximum = money_round(rail.min_amount, currency), money_round(rail.max_amount,
                                                                           currency)
    if amount_out < minimum:
        raise PayoutBelowMinimumError(
            f"The recipient would receive {amount_out} {currency}; {rail.code} pays at least "
            f"{minimum} {currency}. Send a larger amount.",
            extra={"amount_out": str(amount_out), "payout_minimum": str(minimum)})
    if amount_out > maximum:
        raise PayoutAboveMaximumError(
            f"The recipient would receive {amount_out} {currency}; {rail.code} pays at most "
            f"{maximum} {currency}. Send a smaller amount or split the transfer.",
            extra={"amount_out": str(amount_out), "payout_maximum": str(maximum)})
