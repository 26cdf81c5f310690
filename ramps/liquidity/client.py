"""The one module that imports ccxt: it builds the venues' exchange objects and talks to them.

Every venue call goes through an unmodified ccxt class: ``venue_exchange`` sets the credentials,
the timeout (``OUTBOUND_HTTP_TIMEOUT_SECONDS``), no retries, and - for a sandbox - the API URLs.
The rest of the app calls ``VenueClient``, whose methods answer with plain values and raise the
project's ``VenueCallError`` family instead of ccxt's errors (``VenueNoAnswerError`` when a
request may have been executed, ``VenueRefusedError`` when it was refused...). ccxt hands
numbers back as floats; ``to_decimal`` is the single crossing point into Decimal, and
``truncate_to_precision`` the one rounding to a market's precision.
"""

from __future__ import annotations

import decimal
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt
from ccxt.base import decimal_to_precision as decimal_to_precision_module
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


def _is_loopback(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") in ("127.0.0.1", "localhost", "::1")


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
        # ccxt's throttle spaces requests for the real host (2 s apart for Bitso); a loopback
        # sandbox has no such limit, and waiting there would only slow the tests and the demo.
        "enableRateLimit": not _is_loopback(venue.api_base_url),
        "options": {"maxRetriesOnFailure": 0, "maxRetriesOnFailureDelay": 0},
    })
    if venue.api_base_url:
        exchange.urls["api"] = _override_urls(exchange.urls["api"], venue.api_base_url)
    if exchange.id == "bitso":
        _bitso_setup(exchange)
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


# Bitso rejects a nonce it has seen; ccxt counts nonces per exchange object, and a new object is
# built per call, so two calls within one millisecond would share one. One counter per process.
_bitso_nonce_lock = threading.Lock()
_bitso_last_nonce = 0

# Bitso error codes that ccxt leaves as a bare ExchangeError, mapped to the classes the order
# code acts on: a refused order is rejected (not retried), a duplicate origin_id is looked up.
BITSO_EXCEPTIONS = {
    "0379": ccxt.InsufficientFunds,
    "0405": ccxt.DuplicateOrderId,
    "0312": ccxt.OrderNotFound,
    "0301": ccxt.BadSymbol,
    "0303": ccxt.BadRequest,
    "0304": ccxt.BadRequest,
    "0306": ccxt.InvalidOrder,
    "0307": ccxt.InvalidOrder,
    "0323": ccxt.InvalidOrder,
}


def _bitso_nonce() -> int:
    global _bitso_last_nonce
    with _bitso_nonce_lock:
        now = int(time.time() * 1000)
        _bitso_last_nonce = max(now, _bitso_last_nonce + 1)
        return _bitso_last_nonce


def _bitso_setup(exchange: ccxt.Exchange) -> None:
    exchange.incrementing_nonce = _bitso_nonce
    # ccxt's Bitso class looks error codes up in the flat ``exceptions`` dict.
    exchange.exceptions = {**exchange.exceptions, **BITSO_EXCEPTIONS}


def client_order_params(exchange: ccxt.Exchange, client_order_id: str) -> dict[str, str]:
    """The order parameter that carries the client order id, under the venue's own name."""
    if exchange.id == "bitso":
        return {"origin_id": client_order_id}
    if exchange.id == "coinsph":
        return {"newClientOrderId": client_order_id}
    return {"client_order_id": client_order_id}


def _bitso_private_get(exchange: ccxt.Exchange, path: str, params: dict[str, Any]) -> Any:
    """A signed GET on a Bitso path that ccxt does not declare (``orders?origin_ids=``), sent
    through ccxt's ``sign`` and ``fetch`` so that timeout and error mapping stay ccxt's."""
    request = exchange.sign(path, ["private"], "GET", params)
    return exchange.fetch(request["url"], "GET", request["headers"], None)


def order_fetch(exchange: ccxt.Exchange, *, venue_order_id: str, symbol: str) -> dict[str, Any]:
    """ccxt's unified order for ``venue_order_id``, with its fills (``filled``, ``cost``,
    ``fees``) filled in.

    Bitso shows only open orders at ``orders/{oid}``, and its order shape has neither the
    filled amount nor the cost: for Bitso the fills are summed from ``order_trades/{oid}``
    (which also serves finished orders) and the order counts as open only while Bitso lists it.
    """
    if exchange.id != "bitso":
        return exchange.fetch_order(venue_order_id, symbol)
    trades = exchange.fetch_order_trades(venue_order_id, symbol)
    filled = sum((to_decimal(t.get("amount")) or Decimal(0) for t in trades), Decimal(0))
    cost = sum((to_decimal(t.get("cost")) or Decimal(0) for t in trades), Decimal(0))
    fees = [t["fee"] for t in trades if t.get("fee")]
    try:
        open_order = exchange.fetch_order(venue_order_id, symbol)
        status = "open"
        info = open_order.get("info") or {}
    except ccxt.OrderNotFound:
        status = "closed"
        info = {"oid": venue_order_id, "trades": [t.get("info") for t in trades]}
    return {"id": venue_order_id, "status": status, "filled": filled, "cost": cost,
            "fees": fees, "info": info,
            "timestamp": trades[0].get("timestamp") if trades else None}


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
    if exchange.id == "bitso":
        answer = _bitso_private_get(exchange, "orders", {"origin_ids": client_order_id})
        for entry in (answer or {}).get("payload") or []:
            if entry.get("origin_id") == client_order_id:
                return str(entry["oid"])
        # Finished orders are no longer listed; their trades carry the origin_id.
        for trade in exchange.fetch_my_trades(symbol, None, 100):
            if (trade.get("info") or {}).get("origin_id") == client_order_id:
                return str(trade["order"])
        return None
    for order in exchange.fetch_orders(symbol):
        if order.get("clientOrderId") == client_order_id:
            return str(order["id"])
    return None


def exchange_id_known(exchange_id: str) -> bool:
    """Whether ccxt has an exchange class of that id."""
    return exchange_id in ccxt.exchanges


# --- rounding to a market's precision -----------------------------------------------------------

# How a market counts its precision (ccxt's ``precisionMode``).
DECIMAL_PLACES = decimal_to_precision_module.DECIMAL_PLACES
SIGNIFICANT_DIGITS = decimal_to_precision_module.SIGNIFICANT_DIGITS
TICK_SIZE = decimal_to_precision_module.TICK_SIZE


def truncate_to_precision(value: Decimal, precision: Decimal, mode: int) -> Decimal:
    """``value`` truncated to ``precision`` counted as ``mode``, with ccxt's own
    ``decimal_to_precision`` (what ``amount_to_precision`` calls). It runs in a local decimal
    context, because ccxt changes the rounding and traps of the context it is given."""
    counted: Decimal | int = precision if mode == TICK_SIZE else int(precision)
    with decimal.localcontext() as context:
        context.prec = 40
        text = decimal_to_precision_module.decimal_to_precision(
            value, rounding_mode=decimal_to_precision_module.TRUNCATE, precision=counted,
            counting_mode=mode, padding_mode=decimal_to_precision_module.NO_PADDING)
    return Decimal(text)


# --- venue calls with the project's errors --------------------------------------------------------


class VenueCallError(Exception):
    """A venue call failed. ``name`` is ccxt's error class, for logs and stored errors (the
    message may quote the request; it is kept in ``str(error)``)."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class VenueNoAnswerError(VenueCallError):
    """No answer (timeout, connection, venue down): a request may have been executed."""


class VenueCredentialsError(VenueCallError):
    """The venue refused the key or its permissions: nothing was done."""


class VenueRefusedError(VenueCallError):
    """The venue refused the request as asked (order terms, funds, unknown market)."""


class VenueUnknownMarketError(VenueRefusedError):
    """The venue lists no such market."""


class VenueDuplicateOrderError(VenueRefusedError):
    """An order with this client order id is already at the venue."""


class VenueOrderNotFoundError(VenueRefusedError):
    """The venue knows no such order."""


def _translated(exc: ccxt.BaseError) -> VenueCallError:
    """The project's error for a ccxt error (most specific ccxt class first)."""
    kinds: tuple[tuple[type[ccxt.BaseError] | tuple[type[ccxt.BaseError], ...],
                       type[VenueCallError]], ...] = (
        (ccxt.NetworkError, VenueNoAnswerError),
        (ccxt.DuplicateOrderId, VenueDuplicateOrderError),
        (ccxt.OrderNotFound, VenueOrderNotFoundError),
        (ccxt.BadSymbol, VenueUnknownMarketError),
        (ccxt.AuthenticationError, VenueCredentialsError),
        ((ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.BadRequest), VenueRefusedError),
    )
    for ccxt_class, error_class in kinds:
        if isinstance(exc, ccxt_class):
            return error_class(str(exc), name=type(exc).__name__)
    return VenueCallError(str(exc), name=type(exc).__name__)


@contextmanager
def _venue_errors() -> Iterator[None]:
    try:
        yield
    except ccxt.BaseError as exc:
        raise _translated(exc) from exc


class VenueClient:
    """One venue through its ccxt class, answering with the project's errors.

    Every method raises ``VenueCallError`` (or a subclass) for any failure of the venue call;
    callers never see a ccxt exception. ``market`` and ``precisionMode`` let
    ``rules.market_rules`` read the market's rules as from a ccxt exchange.
    """

    def __init__(self, exchange: ccxt.Exchange) -> None:
        self._exchange = exchange

    @classmethod
    def for_venue(cls, venue: Venue) -> VenueClient:
        """The venue's client with its markets loaded (cached per process)."""
        with _venue_errors():
            return cls(venue_exchange(venue))

    @property
    def id(self) -> str:
        return self._exchange.id

    @property
    def precisionMode(self) -> int:  # noqa: N802 - ccxt's attribute name, read by market_rules
        return self._exchange.precisionMode

    @property
    def markets(self) -> dict[str, dict[str, Any]]:
        return self._exchange.markets or {}

    def market(self, symbol: str) -> dict[str, Any]:
        with _venue_errors():
            return self._exchange.market(symbol)

    def order_book(self, symbol: str, *, depth: int = 100) -> dict[str, Any]:
        with _venue_errors():
            return self._exchange.fetch_order_book(symbol, depth)

    def create_order(self, *, symbol: str, order_type: str, side: str, amount: str,
                     price: str | None, client_order_id: str,
                     immediate_or_cancel: bool) -> dict[str, Any]:
        """Place an order carrying ``client_order_id`` under the venue's own parameter name."""
        params: dict[str, Any] = client_order_params(self._exchange, client_order_id)
        if immediate_or_cancel:
            params["time_in_force"] = ("immediateorcancel" if self._exchange.id == "bitso"
                                       else "IOC")
        with _venue_errors():
            return self._exchange.create_order(symbol, order_type, side, amount, price, params)

    def order(self, *, venue_order_id: str, symbol: str) -> dict[str, Any]:
        with _venue_errors():
            return order_fetch(self._exchange, venue_order_id=venue_order_id, symbol=symbol)

    def order_id_by_client_order_id(self, *, symbol: str, client_order_id: str) -> str | None:
        with _venue_errors():
            return order_id_by_client_order_id(self._exchange, symbol=symbol,
                                               client_order_id=client_order_id)

    def my_trades(self, *, symbol: str, since: int | None) -> list[dict[str, Any]]:
        with _venue_errors():
            return self._exchange.fetch_my_trades(symbol, since)

    def balances(self) -> dict[str, Decimal]:
        """Total balance per currency (those the venue reports as non-zero)."""
        with _venue_errors():
            totals = self._exchange.fetch_balance().get("total") or {}
        return {currency: amount for currency, value in totals.items()
                if (amount := to_decimal(value))}
