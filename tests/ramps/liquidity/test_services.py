"""Liquidity services over the real ccxt ``luno`` class talking to the sandbox exchange."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from gateway.common.problems import ConflictError
from ramps.liquidity.models import ConversionOrder, Venue
from ramps.liquidity.services import (
    InsufficientLiquidityError,
    InvalidConversionError,
    StaleMarketDataError,
    VenueUnavailableError,
    conversion_order_create,
    conversion_order_execute,
    conversion_order_refresh,
    venue_price_quote,
)

BOOK = {
    "action": "set_book",
    "pair": "USDCKES",
    "bids": [["129.00", "100"], ["128.50", "200"], ["127.00", "500"]],
    "asks": [["129.50", "100"], ["130.00", "200"], ["131.00", "500"]],
}


@pytest.fixture
def book(exchange_sandbox):
    exchange_sandbox.control(BOOK)
    return exchange_sandbox


def _order(venue, amount="250", side="sell", reference="transfer-1"):
    return conversion_order_create(venue=venue, reference=reference, symbol="USDC/KES",
                                   side=side, amount_base=Decimal(amount))


# -- venue_price_quote -------------------------------------------------------------------------


def test_sell_price_walks_the_bids_over_several_levels(exchange_venue, book):
    price = venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                              amount_base=Decimal("250"))

    # 100 x 129.00 + 150 x 128.50 = 12900 + 19275
    assert price.amount_quote == Decimal("32175.00")
    assert price.vwap == Decimal("128.70")
    assert price.amount_base == Decimal("250")
    assert (price.venue, price.symbol, price.side) == (exchange_venue, "USDC/KES", "sell")
    assert price.book_timestamp.tzinfo is not None


def test_buy_price_walks_the_asks(exchange_venue, book):
    price = venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="buy",
                              amount_base=Decimal("250"))

    # 100 x 129.50 + 150 x 130.00
    assert price.amount_quote == Decimal("32450.00")
    assert price.vwap == Decimal("129.80")


def test_price_within_the_top_level_is_the_top_price(exchange_venue, book):
    price = venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                              amount_base=Decimal("40.5"))

    assert price.vwap == Decimal("129.00")
    assert price.amount_quote == Decimal("5224.500")


def test_price_beyond_the_depth_raises_insufficient_liquidity(exchange_venue, book):
    with pytest.raises(InsufficientLiquidityError) as raised:
        venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                          amount_base=Decimal("800.01"))

    assert raised.value.extra == {"available_base": "800.0"}
    assert ConversionOrder.objects.count() == 0


def test_stale_book_raises(exchange_venue, book, settings):
    settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS = 30
    book.control({"action": "freeze_book", "pair": "USDCKES", "age_seconds": 120})

    with pytest.raises(StaleMarketDataError):
        venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                          amount_base=Decimal("10"))


def test_book_younger_than_the_limit_prices(exchange_venue, book, settings):
    settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS = 30
    book.control({"action": "freeze_book", "pair": "USDCKES", "age_seconds": 5})

    price = venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                              amount_base=Decimal("10"))

    assert price.vwap == Decimal("129.00")


def test_wrong_credentials_make_the_venue_unavailable(exchange_venue, exchange_sandbox):
    Venue.objects.filter(pk=exchange_venue.pk).update(api_secret="wrong")
    exchange_venue.refresh_from_db()

    with pytest.raises(VenueUnavailableError):
        venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                          amount_base=Decimal("10"))


def test_unknown_market_is_an_invalid_conversion(exchange_venue):
    with pytest.raises(InvalidConversionError):
        venue_price_quote(venue=exchange_venue, symbol="BTC/KES", side="sell",
                          amount_base=Decimal("1"))


def test_default_book_prices_around_the_configured_mid(exchange_venue):
    price = venue_price_quote(venue=exchange_venue, symbol="USDC/KES", side="sell",
                              amount_base=Decimal("1000"))

    # The seeded best bid is 0.1 % under the 129.00 mid, rounded down to the price scale.
    assert price.vwap == Decimal("128.87")


# -- conversion_order_create -------------------------------------------------------------------


def test_create_stores_the_order_without_sending_it(exchange_venue, exchange_sandbox):
    order = _order(exchange_venue)

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.CREATED
    assert order.client_order_id.startswith("gw-")
    assert (order.symbol, order.side, order.amount_base) == ("USDC/KES", "sell", Decimal("250"))
    assert order.venue_order_id == ""
    assert exchange_sandbox.order_attempts == []


def test_create_is_idempotent_by_reference(exchange_venue):
    first = _order(exchange_venue)
    second = _order(exchange_venue)

    assert second.pk == first.pk
    assert second.client_order_id == first.client_order_id
    assert ConversionOrder.objects.count() == 1


def test_create_with_the_same_reference_and_other_terms_is_refused(exchange_venue):
    _order(exchange_venue, amount="250")

    with pytest.raises(ConflictError):
        _order(exchange_venue, amount="251")
    assert ConversionOrder.objects.get().amount_base == Decimal("250")


def test_create_refuses_a_bad_side_and_amount(exchange_venue):
    with pytest.raises(InvalidConversionError):
        _order(exchange_venue, side="hold")
    with pytest.raises(InvalidConversionError):
        _order(exchange_venue, amount="0")
    assert ConversionOrder.objects.count() == 0


# -- conversion_order_execute ------------------------------------------------------------------


def test_market_sell_fills_and_records_the_fills(exchange_venue, book):
    order = conversion_order_execute(order=_order(exchange_venue))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("250")
    assert order.filled_quote == Decimal("32175.00")
    assert order.average_price == Decimal("128.70")
    assert order.fee_quote == Decimal("64.35")  # 0.2 % of 32175
    assert order.fee_base == Decimal("0")
    assert order.venue_order_id
    assert order.raw["order_id"] == order.venue_order_id
    assert order.last_error == ""
    held = book.orders_for_client_id(order.client_order_id)
    assert [entry["order_id"] for entry in held] == [order.venue_order_id]
    assert book.balances["USDC"] == Decimal("1000000") - Decimal("250")
    assert book.balances["KES"] == Decimal("100000000") + Decimal("32175") - Decimal("64.35")


def test_buy_fills_the_base_amount_with_an_immediate_or_cancel_limit(exchange_venue, book):
    order = conversion_order_execute(order=_order(exchange_venue, side="buy"))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("250")
    assert order.filled_quote == Decimal("32450.00")
    assert order.average_price == Decimal("129.80")
    assert order.fee_base == Decimal("0.5")
    assert order.fee_quote == Decimal("0")
    held = book.orders_for_client_id(order.client_order_id)
    assert held[0]["type"] == "LIMIT"
    assert held[0]["time_in_force"] == "IOC"
    assert Decimal(held[0]["limit_price"]) == Decimal("130.00")


def test_partial_fill_scenario_is_recorded_as_partially_filled(exchange_venue, book):
    book.control({"action": "partial_fill_next_order", "fill_ratio": "0.5"})

    order = conversion_order_execute(order=_order(exchange_venue))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.PARTIALLY_FILLED
    assert order.filled_base == Decimal("125")
    # 100 x 129.00 + 25 x 128.50
    assert order.filled_quote == Decimal("16112.50")
    assert order.fee_quote == Decimal("32.225")


def test_order_larger_than_the_book_is_partially_filled(exchange_venue, book):
    order = conversion_order_execute(order=_order(exchange_venue, amount="900"))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.PARTIALLY_FILLED
    assert order.filled_base == Decimal("800")
    assert order.filled_quote == Decimal("102100.00")


def test_timed_out_order_is_resolved_by_lookup_and_not_placed_twice(exchange_venue, book,
                                                                    settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.5
    book.control({"action": "timeout_next_order", "delay_seconds": 1.5})

    order = conversion_order_execute(order=_order(exchange_venue))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("250")
    assert order.filled_quote == Decimal("32175.00")
    assert len(book.orders_for_client_id(order.client_order_id)) == 1
    assert len(book.order_attempts) == 1


def test_executing_twice_places_one_order(exchange_venue, book):
    order = _order(exchange_venue)

    first = conversion_order_execute(order=order)
    second = conversion_order_execute(order=order)

    assert second.pk == first.pk
    assert second.status == ConversionOrder.Status.FILLED
    assert second.filled_quote == first.filled_quote
    assert len(book.order_attempts) == 1
    assert len(book.orders) == 1


def test_rejected_order_has_no_fills(exchange_venue, book):
    book.control({"action": "reject_next_order", "error_code": "ErrInsufficientBalance"})

    order = conversion_order_execute(order=_order(exchange_venue))

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.REJECTED
    assert (order.filled_base, order.filled_quote, order.fee_quote) == (0, 0, 0)
    assert order.average_price is None
    assert order.venue_order_id == ""
    assert "ErrInsufficientBalance" in order.last_error
    assert book.orders == {}
    assert book.balances["USDC"] == Decimal("1000000")


def test_order_above_the_balance_is_rejected(exchange_venue, book):
    book.control({"action": "set_balance", "asset": "USDC", "balance": "100"})

    order = conversion_order_execute(order=_order(exchange_venue))

    assert order.status == ConversionOrder.Status.REJECTED
    assert book.orders == {}


def test_rejected_order_is_not_sent_again(exchange_venue, book):
    book.control({"action": "reject_next_order"})
    order = conversion_order_execute(order=_order(exchange_venue))

    again = conversion_order_execute(order=order)

    assert again.status == ConversionOrder.Status.REJECTED
    assert len(book.order_attempts) == 1


def test_amount_finer_than_the_venue_step_is_rejected_without_a_call(exchange_venue, book):
    order = conversion_order_execute(order=_order(exchange_venue, amount="10.001"))

    assert order.status == ConversionOrder.Status.REJECTED
    assert book.order_attempts == []


def test_order_already_at_the_venue_is_adopted_not_duplicated(exchange_venue, book):
    """A worker died after sending: the row is still created, the venue has the order."""
    from ramps.liquidity.client import venue_exchange

    order = _order(exchange_venue)
    venue_exchange(exchange_venue).create_order(
        "USDC/KES", "market", "sell", "250", None, {"client_order_id": order.client_order_id})

    order = conversion_order_execute(order=order)

    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("250")
    assert len(book.orders_for_client_id(order.client_order_id)) == 1
    assert order.venue_order_id == book.orders_for_client_id(order.client_order_id)[0]["order_id"]


def test_refused_credentials_release_the_order_and_raise(exchange_venue, book):
    order = _order(exchange_venue)
    Venue.objects.filter(pk=exchange_venue.pk).update(api_secret="wrong")

    with pytest.raises(VenueUnavailableError):
        conversion_order_execute(order=order)

    order.refresh_from_db()
    assert order.status == ConversionOrder.Status.CREATED
    assert "AuthenticationError" in order.last_error
    assert book.order_attempts == []


# -- conversion_order_refresh ------------------------------------------------------------------


def test_unknown_order_missing_at_the_venue_waits_for_the_grace_period(exchange_venue, book,
                                                                       settings):
    settings.LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS = 3600
    order = _order(exchange_venue)
    ConversionOrder.objects.filter(pk=order.pk).update(status=ConversionOrder.Status.UNKNOWN)

    order = conversion_order_refresh(order=order)

    assert order.status == ConversionOrder.Status.UNKNOWN
    assert order.last_error == "not found at the venue yet"
    assert book.order_attempts == []


def test_unknown_order_missing_after_the_grace_period_is_released(exchange_venue, book,
                                                                  settings):
    settings.LIQUIDITY_UNKNOWN_ORDER_GRACE_SECONDS = 0
    order = _order(exchange_venue)
    ConversionOrder.objects.filter(pk=order.pk).update(status=ConversionOrder.Status.UNKNOWN)

    order = conversion_order_refresh(order=order)

    assert order.status == ConversionOrder.Status.CREATED
    assert book.order_attempts == []
    assert conversion_order_execute(order=order).status == ConversionOrder.Status.FILLED
    assert len(book.orders_for_client_id(order.client_order_id)) == 1


def test_refresh_leaves_final_orders_alone(exchange_venue, book):
    order = conversion_order_execute(order=_order(exchange_venue))

    refreshed = conversion_order_refresh(order=order)

    assert refreshed.status == ConversionOrder.Status.FILLED
    assert len(book.order_attempts) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_executions_place_one_order(exchange_sandbox, settings):
    from ramps.liquidity.client import venue_markets_cache_clear

    venue_markets_cache_clear()
    exchange_sandbox.control(BOOK)
    credentials = exchange_sandbox.credentials()
    venue = Venue.objects.create(name="luno-race", **credentials)
    order = _order(venue)
    barrier = threading.Barrier(4)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(conversion_order_execute(order=ConversionOrder.objects.get(pk=order.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = conversion_order_refresh(order=order)
    assert final.status == ConversionOrder.Status.FILLED
    assert len(results) == 4
    assert len(exchange_sandbox.order_attempts) == 1
    assert len(exchange_sandbox.orders_for_client_id(order.client_order_id)) == 1
