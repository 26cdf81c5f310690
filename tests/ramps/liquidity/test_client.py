"""The ccxt client module: URLs, timeout, retries, cached markets, Decimal boundary."""

from decimal import Decimal

import ccxt
import pytest

from ramps.liquidity.client import (
    order_id_by_client_order_id,
    to_decimal,
    venue_exchange,
    venue_markets_cache_clear,
)
from ramps.liquidity.models import Venue


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
