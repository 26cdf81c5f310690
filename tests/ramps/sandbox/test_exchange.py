"""The Luno sandbox exchange, driven by the unmodified ccxt ``luno`` class and by plain HTTP."""

import time
from decimal import Decimal

import ccxt
import pytest
import requests

from ramps.sandbox.exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeSandbox


def _client(sandbox, *, key=None, secret=None, timeout_ms=5000):
    credentials = sandbox.credentials()
    exchange = ccxt.luno({"apiKey": key or credentials["api_key"],
                          "secret": secret or credentials["api_secret"],
                          "timeout": timeout_ms, "enableRateLimit": False})
    base = credentials["api_base_url"]
    exchange.urls["api"] = {"public": f"{base}/api", "private": f"{base}/api",
                            "exchange": f"{base}/api/exchange",
                            "exchangePrivate": f"{base}/api/exchange"}
    return exchange


def _control(sandbox, **options):
    response = requests.post(f"{sandbox.base_url}/_sandbox/control", json=options, timeout=5)
    return response.status_code, response.json()


def test_defaults_need_no_arguments():
    sandbox = ExchangeSandbox()

    assert sandbox.credentials() == {"exchange_id": "luno", "api_base_url": sandbox.base_url,
                                     "api_key": DEFAULT_API_KEY, "api_secret": DEFAULT_API_SECRET}
    assert sandbox.books["USDCKES"].mid == Decimal("129.00")


def test_markets_and_order_book_through_ccxt(exchange_sandbox):
    exchange = _client(exchange_sandbox)

    markets = exchange.load_markets()
    book = exchange.fetch_order_book("USDC/KES", 100)

    assert {"USDC/KES", "USDT/KES", "USDC/UGX", "USDT/UGX"} <= set(markets)
    assert markets["USDC/KES"]["id"] == "USDCKES"
    assert markets["USDC/KES"]["precision"] == {"amount": 0.01, "price": 0.01}
    assert len(book["bids"]) == len(book["asks"]) == 10
    assert book["bids"][0] == [128.87, 5000.0]
    assert book["asks"][0] == [129.13, 5000.0]
    assert [price for price, _ in book["bids"]] == sorted(
        (price for price, _ in book["bids"]), reverse=True)
    assert [price for price, _ in book["asks"]] == sorted(price for price, _ in book["asks"])
    assert abs(book["timestamp"] - time.time() * 1000) < 5000


def test_full_order_book_and_ticker(exchange_sandbox):
    exchange = _client(exchange_sandbox)

    book = exchange.fetch_order_book("USDC/UGX")
    ticker = exchange.fetch_ticker("USDC/UGX")

    assert book["bids"][0][0] < 3700 < book["asks"][0][0]
    assert ticker["bid"] == book["bids"][0][0]
    assert ticker["ask"] == book["asks"][0][0]


def test_wrong_credentials_are_refused_with_authentication_error(exchange_sandbox):
    with pytest.raises(ccxt.AuthenticationError):
        _client(exchange_sandbox, secret="wrong").fetch_balance()
    response = requests.get(f"{exchange_sandbox.base_url}/api/1/balance", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorised", "error_code": "ErrUnauthorised",
                               "error_action": {}}


def test_balance_through_ccxt(exchange_sandbox):
    balance = _client(exchange_sandbox).fetch_balance()

    assert balance["USDC"] == {"free": 1000000.0, "used": 0.0, "total": 1000000.0}
    assert balance["KES"]["total"] == 100000000.0


def test_market_sell_takes_the_bids_level_by_level(exchange_sandbox):
    exchange_sandbox.control({"action": "set_book", "pair": "USDCKES",
                              "bids": [["129.00", "100"], ["128.50", "200"]],
                              "asks": [["129.50", "100"]]})
    exchange = _client(exchange_sandbox)

    placed = exchange.create_order("USDC/KES", "market", "sell", "150", None,
                                   {"client_order_id": "sell-1"})
    order = exchange.fetch_order(placed["id"])

    assert order["info"]["base"] == "150"
    assert order["info"]["counter"] == "19325.00"  # 100 x 129.00 + 50 x 128.50
    assert order["info"]["fee_counter"] == "38.65000000"
    assert order["info"]["state"] == "COMPLETE"
    assert order["side"] == "sell"
    assert exchange_sandbox.books["USDCKES"].bids[0].volume == Decimal("150")
    assert exchange_sandbox.balances["USDC"] == Decimal("999850")
    assert exchange_sandbox.balances["KES"] == Decimal("100000000") + Decimal("19325.00") - Decimal(
        "38.65")
    trades = exchange.fetch_my_trades("USDC/KES")
    assert [(trade["price"], trade["amount"]) for trade in trades] == [(129.0, 100.0),
                                                                        (128.5, 50.0)]
    assert {trade["order"] for trade in trades} == {placed["id"]}


def test_market_sell_beyond_the_book_fills_partly(exchange_sandbox):
    exchange_sandbox.control({"action": "set_book", "pair": "USDCKES",
                              "bids": [["129.00", "100"]], "asks": []})
    exchange = _client(exchange_sandbox)

    placed = exchange.create_order("USDC/KES", "market", "sell", "150", None)

    order = exchange.fetch_order(placed["id"])
    assert order["filled"] == 100.0
    assert order["amount"] == 150.0
    assert order["info"]["state"] == "COMPLETE"


def test_limit_order_rests_and_can_be_stopped(exchange_sandbox):
    exchange = _client(exchange_sandbox)

    placed = exchange.create_order("USDC/KES", "limit", "sell", "10", 140, {})
    assert exchange.fetch_order(placed["id"])["status"] == "open"
    assert exchange.fetch_balance()["USDC"]["used"] == 10.0
    assert [order["id"] for order in exchange.fetch_open_orders("USDC/KES")] == [placed["id"]]

    exchange.cancel_order(placed["id"])

    assert exchange.fetch_order(placed["id"])["status"] == "COMPLETE"
    assert exchange.fetch_balance()["USDC"]["used"] == 0.0


def test_duplicate_client_order_id_is_refused(exchange_sandbox):
    exchange = _client(exchange_sandbox)
    exchange.create_order("USDC/KES", "market", "sell", "5", None, {"client_order_id": "dup-1"})

    with pytest.raises(ccxt.DuplicateOrderId):
        exchange.create_order("USDC/KES", "market", "sell", "5", None, {"client_order_id": "dup-1"})

    assert len(exchange_sandbox.orders_for_client_id("dup-1")) == 1
    assert exchange_sandbox.balances["USDC"] == Decimal("999995")


def test_order_lookup_by_client_order_id_over_the_v3_path(exchange_sandbox):
    exchange = _client(exchange_sandbox)
    placed = exchange.create_order("USDC/KES", "market", "sell", "5", None,
                                   {"client_order_id": "v3-1"})
    headers = exchange.sign("order", ["exchangePrivate"], "GET", {})["headers"]

    found = requests.get(f"{exchange_sandbox.base_url}/api/exchange/3/order",
                         params={"client_order_id": "v3-1"}, headers=headers, timeout=5)
    missing = requests.get(f"{exchange_sandbox.base_url}/api/exchange/3/order",
                           params={"client_order_id": "nope"}, headers=headers, timeout=5)

    assert found.json()["order_id"] == placed["id"]
    assert found.json()["client_order_id"] == "v3-1"
    assert found.json()["status"] == "COMPLETE"
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "ErrOrderNotFound"
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order("BX-NOT-THERE")


def test_timeout_scenario_executes_the_order_but_answers_too_late(exchange_sandbox):
    status, _ = _control(exchange_sandbox, action="timeout_next_order", delay_seconds=1.0)
    exchange = _client(exchange_sandbox, timeout_ms=300)

    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("USDC/KES", "market", "sell", "5", None,
                              {"client_order_id": "slow-1"})

    assert status == 200
    assert len(exchange_sandbox.orders_for_client_id("slow-1")) == 1
    # Only the next order is slow.
    exchange.create_order("USDC/KES", "market", "sell", "5", None, {"client_order_id": "fast-1"})


def test_reject_scenario_refuses_the_next_order_only(exchange_sandbox):
    _control(exchange_sandbox, action="reject_next_order", error_code="ErrInsufficientBalance")
    exchange = _client(exchange_sandbox)

    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("USDC/KES", "market", "sell", "5", None, {"client_order_id": "r-1"})

    assert exchange_sandbox.orders_for_client_id("r-1") == []
    exchange.create_order("USDC/KES", "market", "sell", "5", None, {"client_order_id": "r-1"})
    assert len(exchange_sandbox.orders_for_client_id("r-1")) == 1


def test_partial_fill_scenario(exchange_sandbox):
    _control(exchange_sandbox, action="partial_fill_next_order", fill_ratio="0.4")
    exchange = _client(exchange_sandbox)

    placed = exchange.create_order("USDC/KES", "market", "sell", "50", None)

    assert exchange.fetch_order(placed["id"])["filled"] == 20.0


def test_set_mid_and_freeze_book(exchange_sandbox):
    _control(exchange_sandbox, action="set_mid", pair="USDCKES", mid="130.00")
    _control(exchange_sandbox, action="freeze_book", pair="USDCKES", age_seconds=120)
    exchange = _client(exchange_sandbox)

    book = exchange.fetch_order_book("USDC/KES", 100)

    assert book["bids"][0][0] == 129.87
    assert time.time() * 1000 - book["timestamp"] >= 120_000
    _control(exchange_sandbox, action="unfreeze_book")
    assert abs(exchange.fetch_order_book("USDC/KES", 100)["timestamp"] - time.time() * 1000) < 5000


def test_control_refuses_unknown_actions(exchange_sandbox):
    assert _control(exchange_sandbox, action="explode")[0] == 400
    assert _control(exchange_sandbox, action="set_mid", pair="NOPE", mid="1")[0] == 400


def test_unknown_pair_maps_to_bad_symbol_error_code(exchange_sandbox):
    response = requests.get(f"{exchange_sandbox.base_url}/api/1/orderbook_top",
                            params={"pair": "XBTZAR"}, timeout=5)

    assert response.json()["error_code"] == "ErrInvalidMarketPair"


def test_books_drift_over_time_and_reproducibly():
    mids = []
    for _ in range(2):
        with ExchangeSandbox(drift_interval_seconds=0.01, seed=3) as sandbox:
            time.sleep(0.05)
            _client(sandbox).fetch_order_book("USDC/KES", 100)
            mids.append(sandbox.books["USDCKES"].mid)
    assert mids[0] == mids[1] != Decimal("129.00")
    assert abs(mids[0] - Decimal("129.00")) <= Decimal("129.00") * Decimal("0.0003")
