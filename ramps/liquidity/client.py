"""The one place that builds ccxt exchange objects for venues and talks to them beyond ccxt's
unified methods.

Every venue call goes through an unmodified ccxt class: ``venue_exchange`` sets the credentials,
the timeout (``OUTBOUND_HTTP_TIMEOUT_SECONDS``), no retries, and - for a sandbox - the API URLs.
ccxt hands numbers back as floats; ``to_decimal`` is the single crossing point into Decimal.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
from django.conf import settings

from .models import Venue

logger = logging.getLogger(__name__)

# Loaded markets per venue: fetching them costs a round trip (two with keys set) per process,
# and they change rarely. The key includes updated_at so that editing a venue reloads them.
_markets_cache: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any] | None]] = {}
_markets_lock = threading.Lock()


def to_decimal(value: Any) -> Decimal | None:
    """ccxt number -> Decimal, via ``str``: a float's repr is the shortest string that reads back
    as the same float, so 128.87 becomes Decimal('128.87'), not its binary expansion. Exact for
    the up to 15 significant digits that a float holds, which covers venue prices and amounts."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return Decimal(str(value))


def _override_origin(url: str, base_url: str) -> str:
    """Put ``url``'s path (and query) under ``base_url``'s origin and path prefix."""
    target = urlsplit(url)
    base = urlsplit(base_url.rstrip("/"))
    return urlunsplit((base.scheme, base.netloc, base.path + target.path, target.query, ""))


def _override_urls(api_urls: Any, base_url: str) -> Any:
    if isinstance(api_urls, str):
        return _override_origin(api_urls, base_url)
    if isinstance(api_urls, dict):
        return {key: _override_urls(value, base_url) for key, value in api_urls.items()}
    return api_urls


def _cache_key(venue: Venue) -> tuple[Any, ...]:
    return (venue.pk, venue.exchange_id, venue.api_base_url, venue.updated_at)


def venue_exchange(venue: Venue, *, load_markets: bool = True) -> ccxt.Exchange:
    """A ccxt exchange object for ``venue`` with its markets loaded (cached per process).

    ``maxRetriesOnFailure`` is 0 so that ccxt never re-sends a request by itself: an order whose
    answer is lost must be looked up, not placed again.
    """
    exchange_class = getattr(ccxt, venue.exchange_id)
    exchange: ccxt.Exchange = exchange_class({
        "apiKey": venue.api_key,
        "secret": venue.api_secret,
        "timeout": int(settings.OUTBOUND_HTTP_TIMEOUT_SECONDS * 1000),
        "enableRateLimit": True,
        "options": {"maxRetriesOnFailure": 0, "maxRetriesOnFailureDelay": 0},
    })
    if venue.api_base_url:
        exchange.urls["api"] = _override_urls(exchange.urls["api"], venue.api_base_url)
    if load_markets:
        key = _cache_key(venue)
        cached = _markets_cache.get(key)
        if cached is None:
            exchange.load_markets()
            with _markets_lock:
                _markets_cache[key] = (exchange.markets, exchange.currencies)
        else:
            exchange.set_markets(list(cached[0].values()), cached[1] or None)
    return exchange


def venue_markets_cache_clear() -> None:
    with _markets_lock:
        _markets_cache.clear()


def order_id_by_client_order_id(exchange: ccxt.Exchange, *, symbol: str,
                                client_order_id: str) -> str | None:
    """The venue's id of the order placed with ``client_order_id``, or None if it has none.

    ccxt's unified ``fetch_order`` takes the venue's id only. Luno answers the lookup by client
    id at ``GET /api/exchange/3/order?client_order_id=...``, which ccxt does not declare; the
    request is signed by ccxt's own ``sign`` for that API family and sent through ccxt's
    ``fetch``, so timeout, authentication and error mapping stay ccxt's. Other venues are asked
    through the unified order list, matched on ``clientOrderId``.
    """
    if exchange.id == "luno":
        family = exchange.urls["api"]["exchangePrivate"]
        request = exchange.sign("order", ["exchangePrivate"], "GET",
                                {"client_order_id": client_order_id})
        url = request["url"].replace(f"{family}/{exchange.version}/", f"{family}/3/", 1)
        try:
            answer = exchange.fetch(url, "GET", request["headers"], None)
        except ccxt.OrderNotFound:
            return None
        return str(answer["order_id"]) if answer and answer.get("order_id") else None
    for order in exchange.fetch_orders(symbol):
        if order.get("clientOrderId") == client_order_id:
            return str(order["id"])
    return None
