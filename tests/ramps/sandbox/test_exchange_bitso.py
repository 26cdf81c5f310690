"""The Bitso sandbox through the real ccxt ``bitso`` class and the liquidity services."""

import hashlib
import hmac
import json
from decimal import Decimal

import ccxt
import pytest
import requests

from ramps.liquidity.client import venue_exchange
from ramps.liquidity.models import ConversionOrder
from ramps.liquidity.services import (
    StaleMarketDataError,
    VenueUnavailableError,
    conversion_order_create,
    conversion_order_execute,
    venue_price_quote,
)

BOOK = {
    "action": "set_book",
    "pair": "usdc_mxn",
    "bids": [["17.20", "100"], ["17.10", "200"], ["16.90", "500"]],
    "asks": [["17.30", "100"], ["17.40", "200"], ["17.60", "500"]],
}


@pytest.fixture
def book(bitso_sandbox):
    bitso_sandbox.control(BOOK)
    return bitso_sandbox


def _order(venue, amount="250", side="sell", reference="transfer-b1"):
    return conversion_order_create(venue=venue, reference=reference, symbol="USDC/MXN",
                                   side=side, amount_base=Decimal(amount))


def test_markets_carry_bitso_limits_and_fees(bitso_venue):
    exchange = venue_exchange(bitso_venue)
    market = exchange.market("USDC/MXN")

    assert market["id"] == "usdc_mxn"
    assert market["taker"] == 0.0065
    assert market["limits"]["amount"]["min"] == 0.5
    assert market["precision"] == {"amount": 1e-06, "price": 0.01}


def test_price_walks_the_bids(bitso_venue, book):
    price = venue_price_quote(venue=bitso_venue, symbol="USDC/MXN", side="sell",
                              amount_base=Decimal("250"))

    # 100 x 17.20 + 150 x 17.10
    assert price.amount_quote == Decimal("4285.00")
    assert price.vwap == Decimal("17.14")


def test_market_sell_fills_with_fees_in_mxn(bitso_venue, book):
    order = conversion_order_execute(order=_order(bitso_venue))

    assert order.status == ConversionOrder.Status.FILLED
    assert (order.filled_base, order.filled_quote) == (Decimal("250"), Decimal("4285.00"))
    # 0.65 % of 1720.00 and of 2565.00, each rounded to the centavo by the venue
    assert order.fee_quote == Decimal("11.18") + Decimal("16.67")
    assert order.fee_base == 0
    [placed] = book.orders_for_client_id(order.client_order_id)
    assert placed["order_id"] == order.venue_order_id
    assert book.order_attempts[0]["params"]["origin_id"] == order.client_order_id


def test_buy_fills_with_an_immediate_or_cancel_limit(bitso_venue, book):
    order = conversion_order_execute(order=_order(bitso_venue, side="buy"))

    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_quote == Decimal("4340.00")  # 100 x 17.30 + 150 x 17.40
    assert order.fee_base == Decimal("1.625")
    params = book.order_attempts[0]["params"]
    assert (params["type"], params["price"], params["time_in_force"]) == (
        "limit", "17.4", "immediateorcancel")


def test_partial_fill(bitso_venue, book):
    book.control({"action": "partial_fill_next_order", "fill_ratio": "0.4"})

    order = conversion_order_execute(order=_order(bitso_venue))

    assert order.status == ConversionOrder.Status.PARTIALLY_FILLED
    assert (order.filled_base, order.filled_quote) == (Decimal("100"), Decimal("1720.00"))


def test_timeout_is_resolved_by_origin_id_lookup_and_not_placed_twice(bitso_venue, book,
                                                                      settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.5
    book.control({"action": "timeout_next_order", "delay_seconds": 1.5})

    order = conversion_order_execute(order=_order(bitso_venue))

    assert order.status == ConversionOrder.Status.FILLED
    assert order.filled_base == Decimal("250")
    assert len(book.orders) == 1
    assert len(book.order_attempts) == 1


def test_duplicate_origin_id_is_adopted_not_placed_again(bitso_venue, book):
    order = _order(bitso_venue)
    exchange = venue_exchange(bitso_venue)
    exchange.create_order("USDC/MXN", "market", "sell", "250", None,
                          {"origin_id": order.client_order_id})

    order = conversion_order_execute(order=order)

    assert order.status == ConversionOrder.Status.FILLED
    assert len(book.orders) == 1


def test_rejected_order_records_no_fills(bitso_venue, book):
    book.control({"action": "reject_next_order"})

    order = conversion_order_execute(order=_order(bitso_venue))

    assert order.status == ConversionOrder.Status.REJECTED
    assert (order.filled_base, order.venue_order_id) == (Decimal(0), "")
    assert "0379" in order.last_error
    assert book.orders == {}


def test_stale_book_is_refused(bitso_venue, book, settings):
    settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS = 30
    book.control({"action": "freeze_book", "pair": "usdc_mxn", "age_seconds": 120})

    with pytest.raises(StaleMarketDataError):
        venue_price_quote(venue=bitso_venue, symbol="USDC/MXN", side="sell",
                          amount_base=Decimal("10"))


def test_wrong_secret_is_refused(bitso_venue, book):
    bitso_venue.api_secret = "not-the-secret"
    bitso_venue.save()

    with pytest.raises(VenueUnavailableError):
        conversion_order_execute(order=_order(bitso_venue))
    assert book.orders == {}
    assert ConversionOrder.objects.get().status == ConversionOrder.Status.CREATED


def _signed(sandbox, method, path, body=b"", nonce="1"):
    message = nonce + method + path + body.decode()
    signature = hmac.new(sandbox.api_secret.encode(), message.encode(),
                         hashlib.sha256).hexdigest()
    return {"Authorization": f"Bitso {sandbox.api_key}:{nonce}:{signature}"}


def test_signature_covers_the_body(bitso_sandbox):
    body = json.dumps({"book": "usdc_mxn", "side": "sell", "type": "market",
                       "major": "1"}).encode()
    headers = _signed(bitso_sandbox, "POST", "/api/v3/orders", body)
    tampered = body.replace(b'"1"', b'"900"')

    answer = requests.post(bitso_sandbox.base_url + "/api/v3/orders", data=tampered,
                           headers=headers, timeout=5)

    assert answer.status_code == 401
    assert answer.json() == {"success": False, "error": {"code": "0201",
                                                         "message": "Invalid credentials"}}
    assert bitso_sandbox.orders == {}


def test_a_nonce_is_accepted_once(bitso_sandbox):
    headers = _signed(bitso_sandbox, "GET", "/api/v3/balance", nonce="42")
    url = bitso_sandbox.base_url + "/api/v3/balance"

    first = requests.get(url, headers=headers, timeout=5)
    replay = requests.get(url, headers=headers, timeout=5)

    assert first.status_code == 200
    assert first.json()["success"] is True
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "104"


def test_unknown_book_maps_to_bad_symbol(bitso_venue):
    exchange = venue_exchange(bitso_venue)
    with pytest.raises(ccxt.BadSymbol):
        exchange.fetch_order_book("USDC/KES")


def test_balance_through_ccxt(bitso_venue, bitso_sandbox):
    bitso_sandbox.control({"action": "set_balance", "asset": "MXN", "balance": "1234.56"})

    balance = venue_exchange(bitso_venue).fetch_balance()

    assert balance["MXN"]["total"] == 1234.56
    assert balance["USDC"]["free"] == 1000000.0
