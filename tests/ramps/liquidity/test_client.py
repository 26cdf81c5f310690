"""The ccxt client module: URLs, timeout, retries, cached markets, Decimal boundary."""

from decimal import Decimal

import ccxt
import pytest

from ramps.chain.devchain import free_port
from ramps.liquidity.client import (
    VenueClient,
    VenueCredentialsError,
    VenueDuplicateOrderError,
    VenueNoAnswerError,
    VenueOrderNotFoundError,
    VenueRefusedError,
    VenueUnknownMarketError,
    order_id_by_client_order_id,
    to_decimal,
    venue_exchange,
    venue_markets_cache_clear,
)
from ramps.liquidity.models import Venue
from tests.source_imports import modules_importing


def test_to_decimal_reads_floats_through_their_shortest_text():
    assert to_decimal(128.87) == Decimal("128.87")
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(25.90287) == Decimal("25.90287")
    assert to_decimal("12.50") == Decimal("12.50")
    assert to_decimal(None) is None
    assert to_decimal(float("nan")) is None


def test_real_urls_are_kept_without_an_override(db):
    venue = Venue.objects.create(name="real", exchange_id="luno", api_key="k", api_secret="s")

    exchange = venue_exchange(venue, load_markets=False)

    assert exchange.urls["api"]["private"] == "https://api.luno.com/api"


def test_override_points_every_api_family_at_the_sandbox(exchange_venue, settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 2.5

    exchange = venue_exchange(exchange_venue, load_markets=False)

    base = exchange_venue.api_base_url
    assert exchange.urls["api"] == {
        "public": f"{base}/api", "private": f"{base}/api",
        "exchange": f"{base}/api/exchange", "exchangePrivate": f"{base}/api/exchange",
    }
    assert exchange.timeout == 2500
    assert exchange.options["maxRetriesOnFailure"] == 0
    assert isinstance(exchange, ccxt.luno)


def test_markets_are_loaded_once_per_venue(exchange_venue, exchange_sandbox, monkeypatch):
    venue_markets_cache_clear()
    first = venue_exchange(exchange_venue)
    calls = []
    monkeypatch.setattr(ccxt.luno, "fetch_markets",
                        lambda self, params=None: calls.append(1) or [])

    second = venue_exchange(exchange_venue)

    assert calls == []
    assert second.markets["USDC/KES"]["id"] == "USDCKES"
    assert second.symbols == first.symbols


def test_wrong_credentials_raise_ccxt_authentication_error(exchange_venue):
    Venue.objects.filter(pk=exchange_venue.pk).update(api_secret="not-the-secret")
    exchange_venue.refresh_from_db()

    with pytest.raises(ccxt.AuthenticationError):
        venue_exchange(exchange_venue).fetch_balance()


def test_order_lookup_by_client_order_id(exchange_venue, exchange_sandbox):
    exchange = venue_exchange(exchange_venue)
    placed = exchange.create_order("USDC/KES", "market", "sell", "5", None,
                                   {"client_order_id": "lookup-1"})

    assert order_id_by_client_order_id(exchange, symbol="USDC/KES",
                                       client_order_id="lookup-1") == placed["id"]
    assert order_id_by_client_order_id(exchange, symbol="USDC/KES",
                                       client_order_id="never-sent") is None


# --- VenueClient: the project's errors, never ccxt's ---------------------------------------------


def test_venue_client_answers_in_plain_values(exchange_venue, exchange_sandbox):
    client = VenueClient.for_venue(exchange_venue)
    placed = client.create_order(symbol="USDC/KES", order_type="market", side="sell",
                                 amount="5", price=None, client_order_id="client-1",
                                 immediate_or_cancel=False)

    assert client.order_id_by_client_order_id(symbol="USDC/KES",
                                              client_order_id="client-1") == placed["id"]
    assert client.order(venue_order_id=placed["id"], symbol="USDC/KES")["id"] == placed["id"]
    assert client.balances()["USDC"] == Decimal("999995")
    assert all(isinstance(amount, Decimal) for amount in client.balances().values())
    assert client.order_book("USDC/KES")["bids"]


def test_venue_client_errors_say_what_the_order_code_must_do(exchange_venue, exchange_sandbox):
    client = VenueClient.for_venue(exchange_venue)
    client.create_order(symbol="USDC/KES", order_type="market", side="sell", amount="5",
                        price=None, client_order_id="dup-2", immediate_or_cancel=False)

    with pytest.raises(VenueDuplicateOrderError) as duplicate:
        client.create_order(symbol="USDC/KES", order_type="market", side="sell", amount="5",
                            price=None, client_order_id="dup-2", immediate_or_cancel=False)
    with pytest.raises(VenueUnknownMarketError):
        client.market("NOPE/KES")
    with pytest.raises(VenueOrderNotFoundError):
        client.order(venue_order_id="BX-NOT-THERE", symbol="USDC/KES")

    assert duplicate.value.name == "DuplicateOrderId"
    assert isinstance(duplicate.value, VenueRefusedError)
    assert len(exchange_sandbox.orders_for_client_id("dup-2")) == 1


def test_venue_client_wrong_credentials_and_no_answer(exchange_venue, exchange_sandbox):
    Venue.objects.filter(pk=exchange_venue.pk).update(api_secret="not-the-secret")
    exchange_venue.refresh_from_db()
    with pytest.raises(VenueCredentialsError):
        VenueClient.for_venue(exchange_venue).balances()

    closed = Venue.objects.create(name="closed", exchange_id="luno", api_key="k",
                                  api_secret="s", api_base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(VenueNoAnswerError) as no_answer:
        VenueClient.for_venue(closed)
    assert not isinstance(no_answer.value, ccxt.BaseError)


def test_ccxt_is_imported_only_by_the_liquidity_client():
    assert modules_importing("ccxt") == ["ramps/liquidity/client.py"]
