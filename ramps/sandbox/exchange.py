"""Loopback simulator of the Luno exchange REST API (https://api.luno.com).

The unmodified ccxt ``luno`` class talks to it once its ``urls['api']`` point here (see
``ramps.liquidity.client``), so the gateway's liquidity code is exercised through the real client:
the same paths, query parameters, HTTP Basic authentication with ``key_id:key_secret``, JSON
field names, decimal strings and ``{"error", "error_code", "error_action"}`` error bodies that
ccxt maps to its exception classes.

What it covers, by Luno path:

- ``GET /api/exchange/1/markets`` - market list (public)
- ``GET /api/1/orderbook_top`` and ``/api/1/orderbook`` - order book (public)
- ``GET /api/1/ticker``, ``/api/1/tickers`` - tickers (public)
- ``GET /api/1/send/networks`` - networks (ccxt's ``fetch_currencies`` reads it when keys are set)
- ``GET /api/1/balance`` - balances of the key's accounts
- ``POST /api/1/marketorder`` - market order (``type`` BUY with ``counter_volume``, SELL with
  ``base_volume``), ``POST /api/1/postorder`` - limit order (BID/ASK, ``time_in_force``),
  both with optional ``client_order_id`` (a duplicate gives ``ErrDuplicateClientOrderID``)
- ``POST /api/1/stoporder`` - cancel a resting limit order
- ``GET /api/1/orders/{id}``, ``/api/exchange/2/orders/{id}``, ``/api/exchange/3/order`` (by
  ``id`` or ``client_order_id``), ``GET /api/1/listorders``, ``GET /api/1/listtrades``,
  ``GET /api/1/fee_info``

The books are seeded around a mid price with several levels of depth and drift a little over time
(a seeded random walk). Market and limit orders take liquidity from the book level by level, so a
big order gets a worse average price than a small one, and an order larger than the book is only
partly filled. Resting limit orders are kept as PENDING but never matched later (no other
traders exist here).

Scenarios are switched at run time through ``POST /_sandbox/control`` (JSON) or ``control()``:

- ``{"action": "timeout_next_order", "delay_seconds": 3}`` - the next order is executed, then the
  answer is held past the client's timeout, so the client cannot know the outcome
- ``{"action": "reject_next_order", "error_code": "ErrInsufficientBalance"}`` - the next order is
  refused with that Luno error code (nothing is placed)
- ``{"action": "partial_fill_next_order", "fill_ratio": "0.5"}`` - the next order fills only that
  share of its size; the rest is cancelled
- ``{"action": "set_mid", "pair": "USDCKES", "mid": "130.10"}`` - rebuild the book around a mid
- ``{"action": "set_book", "pair": "USDCKES", "bids": [["128.90", "100"]], "asks": [...]}`` - use
  exactly these levels; the book stops drifting until ``set_mid`` or ``reset``
- ``{"action": "freeze_book", "pair": "USDCKES", "age_seconds": 120}`` - the book reports a
  timestamp that old and stops moving (stale data); ``{"action": "unfreeze_book"}`` undoes it
- ``{"action": "set_balance", "asset": "USDC", "balance": "1000"}``
- ``{"action": "reset"}`` - back to the state after construction

``GET /_sandbox/orders`` lists every order the simulator holds (tests use it to prove that an
order was placed exactly once). Nothing here imports Django: it runs in the ``sandbox`` command
and in tests alike. Amounts are ``Decimal`` throughout; the simulator rounds fees and prices to
the market's scales the way the venue does, which is the venue's rounding, not the gateway's.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

EXCHANGE_ID = "luno"
DEFAULT_API_KEY = "sandbox-luno-key-id"
DEFAULT_API_SECRET = "sandbox-luno-key-secret-not-for-production"  # noqa: S105 - loopback demo key
DEFAULT_TAKER_FEE_RATE = Decimal("0.002")
DEFAULT_MAKER_FEE_RATE = Decimal("0")
# The book moves at most once per interval, by at most this fraction of the mid.
DEFAULT_DRIFT_INTERVAL_SECONDS = 1.0
DEFAULT_DRIFT_FRACTION = Decimal("0.0003")


@dataclass(frozen=True)
class MarketConfig:
    """One market of the simulated venue and how its book is seeded.

    Level ``i`` (0 = best) of each side sits ``half_spread + i * level_step`` (fractions of the
    mid) away from the mid and holds ``level_volume * (1 + i / 2)`` of the base asset.
    """

    pair: str
    base: str
    counter: str
    mid: Decimal
    price_scale: int = 2
    volume_scale: int = 2
    fee_scale: int = 8
    min_volume: Decimal = Decimal("1")
    max_volume: Decimal = Decimal("10000000")
    levels: int = 10
    level_volume: Decimal = Decimal("5000")
    half_spread: Decimal = Decimal("0.001")
    level_step: Decimal = Decimal("0.0005")


DEFAULT_MARKETS: tuple[MarketConfig, ...] = (
    MarketConfig("USDCKES", "USDC", "KES", Decimal("129.00")),
    MarketConfig("USDTKES", "USDT", "KES", Decimal("129.10")),
    MarketConfig("USDCUGX", "USDC", "UGX", Decimal("3700"), price_scale=0),
    MarketConfig("USDTUGX", "USDT", "UGX", Decimal("3702"), price_scale=0),
    MarketConfig("USDCNGN", "USDC", "NGN", Decimal("1530.00")),
)

DEFAULT_BALANCES: dict[str, Decimal] = {
    "USDC": Decimal("1000000"),
    "USDT": Decimal("1000000"),
    "KES": Decimal("100000000"),
    "UGX": Decimal("5000000000"),
    "NGN": Decimal("1000000000"),
}


class LunoError(Exception):
    """An error answer in Luno's shape: ``{"error", "error_code", "error_action"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "error_code": self.code, "error_action": {}}


@dataclass
class Level:
    price: Decimal
    volume: Decimal


@dataclass
class Book:
    config: MarketConfig
    mid: Decimal
    bids: list[Level] = field(default_factory=list)
    asks: list[Level] = field(default_factory=list)
    pinned: bool = False
    frozen_at_ms: int | None = None
    last_move: float = 0.0


@dataclass
class Fill:
    sequence: int
    price: Decimal
    volume: Decimal
    timestamp_ms: int


@dataclass
class SimOrder:
    order_id: str
    client_order_id: str
    pair: str
    side: str  # BUY or SELL
    order_kind: str  # MARKET or LIMIT
    limit_price: Decimal
    limit_volume: Decimal
    counter_volume: Decimal
    time_in_force: str
    created_ms: int
    fills: list[Fill] = field(default_factory=list)
    fee_rate: Decimal = DEFAULT_TAKER_FEE_RATE
    fee_scale: int = 8
    completed_ms: int = 0
    expiration_ms: int = 0
    state: str = "PENDING"

    @property
    def base(self) -> Decimal:
        return sum((fill.volume for fill in self.fills), Decimal(0))

    @property
    def counter(self) -> Decimal:
        return sum((fill.price * fill.volume for fill in self.fills), Decimal(0))

    @property
    def fee_base(self) -> Decimal:
        # Luno charges a buyer's fee in the asset bought, a seller's in the currency received.
        if self.side != "BUY":
            return Decimal(0)
        return _quantize(self.base * self.fee_rate, self.fee_scale)

    @property
    def fee_counter(self) -> Decimal:
        if self.side != "SELL":
            return Decimal(0)
        return _quantize(self.counter * self.fee_rate, self.fee_scale)

    def v1(self) -> dict[str, Any]:
        """The order as ``GET /api/1/orders/{id}`` and ``listorders`` show it."""
        if self.order_kind == "MARKET":
            order_type = self.side
        else:
            order_type = "BID" if self.side == "BUY" else "ASK"
        return {
            "order_id": self.order_id,
            "creation_timestamp": self.created_ms,
            "expiration_timestamp": self.expiration_ms,
            "completed_timestamp": self.completed_ms,
            "type": order_type,
            "state": self.state,
            "limit_price": _text(self.limit_price),
            "limit_volume": _text(self.limit_volume),
            "base": _text(self.base),
            "counter": _text(self.counter),
            "fee_base": _text(self.fee_base),
            "fee_counter": _text(self.fee_counter),
            "pair": self.pair,
            "time_in_force": self.time_in_force,
        }

    def v3(self) -> dict[str, Any]:
        """The order as ``/api/exchange/2/orders/{id}`` and ``/api/exchange/3/order`` show it."""
        status = "AWAITING" if self.state == "AWAITING" else self.state
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "pair": self.pair,
            "side": self.side,
            "type": self.order_kind,
            "status": status,
            "time_in_force": self.time_in_force,
            "limit_price": _text(self.limit_price),
            "limit_volume": _text(self.limit_volume),
            "base": _text(self.base),
            "counter": _text(self.counter),
            "fee_base": _text(self.fee_base),
            "fee_counter": _text(self.fee_counter),
            "base_account_id": "",
            "counter_account_id": "",
            "creation_timestamp": self.created_ms,
            "completed_timestamp": self.completed_ms,
            "expiration_timestamp": self.expiration_ms,
        }


def _quantize(value: Decimal, scale: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale), rounding=rounding)


def _text(value: Decimal) -> str:
    """Decimal string without exponent notation, as Luno writes amounts."""
    return format(value, "f")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _decimal_param(params: dict[str, str], name: str, *, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise LunoError(400, "ErrInvalidArguments", f"Missing argument: {name}")
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise LunoError(400, "ErrInvalidArguments", f"Invalid value for {name}") from exc
    if not value.is_finite() or value <= 0:
        raise LunoError(400, "ErrInvalidArguments", f"Invalid value for {name}")
    return value


class ExchangeSandbox:
    """The simulated Luno venue: one API key, its accounts, the markets and their books.

    ``markets`` is a sequence of ``MarketConfig`` (or dicts with its fields); the default holds
    USDC/KES around 129 KES, USDT/KES, USDC/UGX, USDT/UGX and USDC/NGN. ``seed`` makes the
    drift of the books reproducible.
    """

    name = "exchange"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
                 markets: Any = None, balances: dict[str, Any] | None = None,
                 taker_fee_rate: Decimal = DEFAULT_TAKER_FEE_RATE,
                 drift_interval_seconds: float = DEFAULT_DRIFT_INTERVAL_SECONDS,
                 drift_fraction: Decimal = DEFAULT_DRIFT_FRACTION, seed: int = 7) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.api_secret = api_secret
        self.taker_fee_rate = Decimal(str(taker_fee_rate))
        self.drift_interval_seconds = drift_interval_seconds
        self.drift_fraction = Decimal(str(drift_fraction))
        self.seed = seed
        configs = DEFAULT_MARKETS if markets is None else markets
        self.market_configs: tuple[MarketConfig, ...] = tuple(
            config if isinstance(config, MarketConfig) else _market_from_dict(config)
            for config in configs
        )
        self.initial_balances = {
            asset: Decimal(str(amount))
            for asset, amount in (DEFAULT_BALANCES if balances is None else balances).items()
        }
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ExchangeSandbox:
        """Bind and serve in a background thread. Raises ``OSError`` if the port is taken."""
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="exchange-sandbox", daemon=True)
        self._thread.start()
        logger.info("Exchange sandbox (luno) listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ExchangeSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def credentials(self) -> dict[str, str]:
        """What a client needs to reach this venue (fields of ``ramps.liquidity.Venue``)."""
        return {
            "exchange_id": EXCHANGE_ID,
            "api_base_url": self.base_url,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
        }

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget orders and scenarios; books and balances go back to their seeded state."""
        with self.lock:
            self.random = random.Random(self.seed)
            self.balances: dict[str, Decimal] = dict(self.initial_balances)
            self.reserved: dict[str, Decimal] = dict.fromkeys(self.initial_balances, Decimal(0))
            self.books: dict[str, Book] = {}
            for config in self.market_configs:
                book = Book(config=config, mid=config.mid, last_move=time.monotonic())
                self._seed_book(book)
                self.books[config.pair] = book
            self.orders: dict[str, SimOrder] = {}
            self.orders_by_client_id: dict[str, str] = {}
            self.order_attempts: list[dict[str, Any]] = []
            self._order_numbers = itertools.count(1)
            self._trade_sequence = itertools.count(1)
            self.next_order_delay: float | None = None
            self.next_order_error: str | None = None
            self.next_order_fill_ratio: Decimal | None = None

    def _seed_book(self, book: Book) -> None:
        config = book.config
        book.bids, book.asks = [], []
        for index in range(config.levels):
            distance = config.half_spread + config.level_step * index
            volume = _quantize(config.level_volume * (1 + Decimal(index) / 2), config.volume_scale)
            bid = _quantize(book.mid * (1 - distance), config.price_scale, ROUND_DOWN)
            ask = _quantize(book.mid * (1 + distance), config.price_scale, ROUND_HALF_UP)
            if ask <= bid:
                ask = bid + Decimal(1).scaleb(-config.price_scale)
            _add_level(book.bids, bid, volume)
            _add_level(book.asks, ask, volume)

    def _drift(self, book: Book) -> None:
        """Move an unpinned, unfrozen book by a small random step once per interval."""
        if book.pinned or book.frozen_at_ms is not None or self.drift_interval_seconds <= 0:
            return
        now = time.monotonic()
        if now - book.last_move < self.drift_interval_seconds:
            return
        book.last_move = now
        step = Decimal(str(self.random.uniform(-1, 1))) * self.drift_fraction
        book.mid = _quantize(book.mid * (1 + step), book.config.price_scale + 2)
        self._seed_book(book)

    def _book(self, pair: str | None) -> Book:
        book = self.books.get(pair or "")
        if book is None:
            raise LunoError(400, "ErrInvalidMarketPair", "Market pair is invalid")
        self._drift(book)
        return book

    def control(self, options: dict[str, Any]) -> dict[str, Any]:
        """Apply one scenario switch (see the module docstring). Raises ``ValueError``."""
        action = options.get("action")
        with self.lock:
            if action == "timeout_next_order":
                self.next_order_delay = float(options.get("delay_seconds", 3))
            elif action == "reject_next_order":
                self.next_order_error = str(options.get("error_code", "ErrInsufficientBalance"))
            elif action == "partial_fill_next_order":
                ratio = Decimal(str(options.get("fill_ratio", "0.5")))
                if not Decimal(0) <= ratio < 1:
                    raise ValueError("fill_ratio must be at least 0 and below 1")
                self.next_order_fill_ratio = ratio
            elif action == "set_mid":
                book = self._control_book(options)
                book.mid = Decimal(str(options["mid"]))
                book.pinned = False
                book.last_move = time.monotonic()
                self._seed_book(book)
            elif action == "set_book":
                book = self._control_book(options)
                book.bids, book.asks = [], []
                for price, volume in options.get("bids", []):
                    _add_level(book.bids, Decimal(str(price)), Decimal(str(volume)))
                for price, volume in options.get("asks", []):
                    _add_level(book.asks, Decimal(str(price)), Decimal(str(volume)))
                book.pinned = True
            elif action == "freeze_book":
                age_ms = int(Decimal(str(options.get("age_seconds", 0))) * 1000)
                for book in self._control_books(options):
                    book.frozen_at_ms = _now_ms() - age_ms
            elif action == "unfreeze_book":
                for book in self._control_books(options):
                    book.frozen_at_ms = None
            elif action == "set_balance":
                self.balances[str(options["asset"])] = Decimal(str(options["balance"]))
                self.reserved.setdefault(str(options["asset"]), Decimal(0))
            elif action == "reset":
                self.reset()
            else:
                raise ValueError(f"unknown action {action!r}")
        return self.control_state()

    def _control_book(self, options: dict[str, Any]) -> Book:
        book = self.books.get(str(options.get("pair", "")))
        if book is None:
            raise ValueError(f"unknown pair {options.get('pair')!r}")
        return book

    def _control_books(self, options: dict[str, Any]) -> list[Book]:
        if options.get("pair"):
            return [self._control_book(options)]
        return list(self.books.values())

    def control_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "next_order_delay": self.next_order_delay,
                "next_order_error": self.next_order_error,
                "next_order_fill_ratio": (None if self.next_order_fill_ratio is None
                                          else _text(self.next_order_fill_ratio)),
                "mids": {pair: _text(book.mid) for pair, book in self.books.items()},
                "order_count": len(self.orders),
            }

    def orders_for_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        """Every order held for ``client_order_id`` (at most one, which is the point)."""
        with self.lock:
            return [order.v3() for order in self.orders.values()
                    if order.client_order_id == client_order_id]

    # -- HTTP ----------------------------------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
              body: bytes) -> tuple[int, Any, float | None]:
        """Answer one request: ``(status, JSON body, seconds to hold the answer or None)``."""
        if path.startswith("/_sandbox/"):
            return self._route_control(method, path, body)
        try:
            return self._route_api(method, path, params, headers)
        except LunoError as error:
            return error.status, error.body(), None

    def _route_control(self, method: str, path: str, body: bytes) -> tuple[int, Any, None]:
        if path == "/_sandbox/control" and method == "POST":
            try:
                options = json.loads(body or b"{}")
                if not isinstance(options, dict):
                    raise ValueError("control body must be a JSON object")
                return 200, self.control(options), None
            except (ValueError, TypeError, KeyError, InvalidOperation) as exc:
                return 400, {"error": str(exc)}, None
        if path == "/_sandbox/control" and method == "GET":
            return 200, self.control_state(), None
        if path == "/_sandbox/orders" and method == "GET":
            with self.lock:
                return 200, {"orders": [order.v3() for order in self.orders.values()]}, None
        return 404, {"error": "not found"}, None

    def _route_api(self, method: str, path: str, params: dict[str, str],
                   headers: dict[str, str]) -> tuple[int, Any, float | None]:
        public = {
            ("GET", "/api/exchange/1/markets"): self._markets,
            ("GET", "/api/1/orderbook_top"): self._orderbook,
            ("GET", "/api/1/orderbook"): self._orderbook,
            ("GET", "/api/1/ticker"): self._ticker,
            ("GET", "/api/1/tickers"): self._tickers,
        }
        handler = public.get((method, path))
        if handler is not None:
            with self.lock:
                return 200, handler(params), None
        self._authenticate(headers.get("authorization", ""))
        if method == "POST" and path in ("/api/1/marketorder", "/api/1/postorder"):
            return self._place_order(path, params)
        private = {
            ("GET", "/api/1/send/networks"): self._networks,
            ("GET", "/api/1/balance"): self._balance,
            ("GET", "/api/1/listorders"): self._list_orders,
            ("GET", "/api/1/listtrades"): self._list_trades,
            ("GET", "/api/1/fee_info"): self._fee_info,
            ("GET", "/api/exchange/3/order"): self._order_v3,
            ("POST", "/api/1/stoporder"): self._stop_order,
        }
        handler = private.get((method, path))
        with self.lock:
            if handler is not None:
                return 200, handler(params), None
            if method == "GET" and path.startswith("/api/1/orders/"):
                return 200, self._order(path.rsplit("/", 1)[1]).v1(), None
            if method == "GET" and path.startswith("/api/exchange/2/orders/"):
                return 200, self._order(path.rsplit("/", 1)[1]).v3(), None
        raise LunoError(404, "ErrNotFound", "No result found")

    def _authenticate(self, authorization: str) -> None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise LunoError(401, "ErrUnauthorised", "Unauthorised")
        try:
            key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise LunoError(401, "ErrUnauthorised", "Unauthorised") from exc
        key_ok = hmac.compare_digest(key.encode(), self.api_key.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.api_secret.encode())
        if not (key_ok and secret_ok):
            raise LunoError(401, "ErrUnauthorised", "Unauthorised")

    # -- public endpoints ----------------------------------------------------------------------

    def _markets(self, params: dict[str, str]) -> dict[str, Any]:
        return {"markets": [
            {
                "market_id": config.pair,
                "trading_status": "ACTIVE",
                "base_currency": config.base,
                "counter_currency": config.counter,
                "min_volume": _text(config.min_volume),
                "max_volume": _text(config.max_volume),
                "volume_scale": config.volume_scale,
                "min_price": _text(Decimal(1).scaleb(-config.price_scale)),
                "max_price": _text(config.mid * 100),
                "price_scale": config.price_scale,
                "fee_scale": config.fee_scale,
            }
            for config in self.market_configs
        ]}

    def _orderbook(self, params: dict[str, str]) -> dict[str, Any]:
        book = self._book(params.get("pair"))
        timestamp = book.frozen_at_ms if book.frozen_at_ms is not None else _now_ms()
        return {
            "timestamp": timestamp,
            "bids": [{"price": _text(lv.price), "volume": _text(lv.volume)} for lv in book.bids],
            "asks": [{"price": _text(lv.price), "volume": _text(lv.volume)} for lv in book.asks],
        }

    def _ticker_of(self, book: Book) -> dict[str, Any]:
        last_fills = [fill for order in self.orders.values() if order.pair == book.config.pair
                      for fill in order.fills]
        last = last_fills[-1].price if last_fills else book.mid
        return {
            "pair": book.config.pair,
            "timestamp": book.frozen_at_ms if book.frozen_at_ms is not None else _now_ms(),
            "bid": _text(book.bids[0].price) if book.bids else "0",
            "ask": _text(book.asks[0].price) if book.asks else "0",
            "last_trade": _text(last),
            "rolling_24_hour_volume": _text(sum((f.volume for f in last_fills), Decimal(0))),
            "status": "ACTIVE",
        }

    def _ticker(self, params: dict[str, str]) -> dict[str, Any]:
        return self._ticker_of(self._book(params.get("pair")))

    def _tickers(self, params: dict[str, str]) -> dict[str, Any]:
        return {"tickers": [self._ticker_of(self._book(pair)) for pair in self.books]}

    # -- private endpoints ---------------------------------------------------------------------

    def _networks(self, params: dict[str, str]) -> dict[str, Any]:
        return {"networks": [
            {"id": 0, "name": "Ethereum", "native_currency": "ETH"},
            {"id": 1, "name": "Polygon", "native_currency": "POL"},
        ]}

    def _balance(self, params: dict[str, str]) -> dict[str, Any]:
        return {"balance": [
            {
                "account_id": str(1000 + index),
                "asset": asset,
                "balance": _text(amount),
                "reserved": _text(self.reserved.get(asset, Decimal(0))),
                "unconfirmed": "0",
                "name": f"{asset} account",
            }
            for index, (asset, amount) in enumerate(sorted(self.balances.items()))
        ]}

    def _fee_info(self, params: dict[str, str]) -> dict[str, Any]:
        self._book(params.get("pair"))
        return {"maker_fee": _text(DEFAULT_MAKER_FEE_RATE), "taker_fee": _text(self.taker_fee_rate),
                "thirty_day_volume": "0"}

    def _order(self, order_id: str) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise LunoError(404, "ErrOrderNotFound", "Cannot find that order")
        return order

    def _order_v3(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("id"):
            return self._order(params["id"]).v3()
        client_order_id = params.get("client_order_id")
        if not client_order_id:
            raise LunoError(400, "ErrInvalidArguments", "Provide id or client_order_id")
        order_id = self.orders_by_client_id.get(client_order_id)
        if order_id is None:
            raise LunoError(404, "ErrOrderNotFound", "Cannot find that order")
        return self.orders[order_id].v3()

    def _list_orders(self, params: dict[str, str]) -> dict[str, Any]:
        orders = sorted(self.orders.values(), key=lambda order: order.created_ms, reverse=True)
        if params.get("pair"):
            orders = [order for order in orders if order.pair == params["pair"]]
        if params.get("state"):
            orders = [order for order in orders if order.state == params["state"]]
        limit = int(params.get("limit") or 100)
        return {"orders": [order.v1() for order in orders[:limit]]}

    def _list_trades(self, params: dict[str, str]) -> dict[str, Any]:
        pair = params.get("pair")
        if not pair:
            raise LunoError(400, "ErrInvalidArguments", "Missing argument: pair")
        since = int(params.get("since") or 0)
        trades = []
        for order in self.orders.values():
            if order.pair != pair:
                continue
            for fill in order.fills:
                if fill.timestamp_ms < since:
                    continue
                counter = fill.price * fill.volume
                is_buy = order.side == "BUY"
                trades.append({
                    "pair": pair,
                    "sequence": fill.sequence,
                    "order_id": order.order_id,
                    "client_order_id": order.client_order_id,
                    "type": "BID" if is_buy else "ASK",
                    "timestamp": fill.timestamp_ms,
                    "price": _text(fill.price),
                    "volume": _text(fill.volume),
                    "base": _text(fill.volume),
                    "counter": _text(counter),
                    "fee_base": _text(_quantize(fill.volume * order.fee_rate, order.fee_scale)
                                      if is_buy else Decimal(0)),
                    "fee_counter": _text(_quantize(counter * order.fee_rate, order.fee_scale)
                                         if not is_buy else Decimal(0)),
                    "is_buy": is_buy,
                })
        trades.sort(key=lambda trade: trade["sequence"])
        limit = int(params.get("limit") or 100)
        return {"trades": trades[:limit]}

    def _stop_order(self, params: dict[str, str]) -> dict[str, Any]:
        order = self._order(params.get("order_id", ""))
        if order.state != "PENDING":
            raise LunoError(400, "ErrCannotStopUnknownOrNonPendingOrder",
                            "Cannot stop unknown or non-pending order")
        self._complete(order)
        return {"success": True}

    # -- orders --------------------------------------------------------------------------------

    def _place_order(self, path: str, params: dict[str, str]) -> tuple[int, Any, float | None]:
        with self.lock:
            self.order_attempts.append({"path": path, "params": dict(params)})
            delay, self.next_order_delay = self.next_order_delay, None
            error_code, self.next_order_error = self.next_order_error, None
            fill_ratio, self.next_order_fill_ratio = self.next_order_fill_ratio, None
            client_order_id = params.get("client_order_id", "")
            if client_order_id and client_order_id in self.orders_by_client_id:
                raise LunoError(409, "ErrDuplicateClientOrderID", "Duplicate client order id")
            if error_code:
                raise LunoError(400, error_code, "Order rejected by the sandbox scenario")
            book = self._book(params.get("pair"))
            if path == "/api/1/marketorder":
                order = self._new_market_order(book, params, client_order_id)
            else:
                order = self._new_limit_order(book, params, client_order_id)
            self._match(book, order, fill_ratio)
            self.orders[order.order_id] = order
            if client_order_id:
                self.orders_by_client_id[client_order_id] = order.order_id
        if delay:
            logger.info("Exchange sandbox holds the answer to order %s for %ss", order.order_id,
                        delay)
        return 200, {"order_id": order.order_id}, delay

    def _new_order_id(self) -> str:
        return f"BX{next(self._order_numbers):06d}{self.random.randrange(36**6):06X}"

    def _new_market_order(self, book: Book, params: dict[str, str],
                          client_order_id: str) -> SimOrder:
        side = params.get("type", "")
        if side not in ("BUY", "SELL"):
            raise LunoError(400, "ErrInvalidOrderSide", "Order side is invalid")
        config = book.config
        base_volume = counter_volume = Decimal(0)
        if side == "SELL":
            base_volume = _decimal_param(params, "base_volume") or Decimal(0)
            self._check_volume(config, base_volume)
            if base_volume > self._available(config.base):
                raise LunoError(400, "ErrInsufficientBalance", "Insufficient balance.")
        else:
            counter_volume = _decimal_param(params, "counter_volume") or Decimal(0)
            if counter_volume > self._available(config.counter):
                raise LunoError(400, "ErrInsufficientBalance", "Insufficient balance.")
        return SimOrder(
            order_id=self._new_order_id(), client_order_id=client_order_id, pair=config.pair,
            side=side, order_kind="MARKET", limit_price=Decimal(0), limit_volume=base_volume,
            counter_volume=counter_volume, time_in_force="", created_ms=_now_ms(),
            fee_rate=self.taker_fee_rate, fee_scale=config.fee_scale,
        )

    def _new_limit_order(self, book: Book, params: dict[str, str],
                         client_order_id: str) -> SimOrder:
        order_type = params.get("type", "")
        if order_type not in ("BID", "ASK"):
            raise LunoError(400, "ErrInvalidOrderSide", "Order side is invalid")
        config = book.config
        volume = _decimal_param(params, "volume") or Decimal(0)
        price = _decimal_param(params, "price") or Decimal(0)
        self._check_volume(config, volume)
        if price != _quantize(price, config.price_scale, ROUND_DOWN):
            raise LunoError(400, "ErrPriceDenominationNotAllowed",
                            "Price contains too many decimal places")
        time_in_force = params.get("time_in_force") or "GTC"
        if time_in_force not in ("GTC", "IOC", "FOK"):
            raise LunoError(400, "ErrInvalidArguments", "Invalid time_in_force")
        side = "BUY" if order_type == "BID" else "SELL"
        if side == "SELL" and volume > self._available(config.base):
            raise LunoError(400, "ErrInsufficientBalance", "Insufficient balance.")
        if side == "BUY" and price * volume > self._available(config.counter):
            raise LunoError(400, "ErrInsufficientBalance", "Insufficient balance.")
        if time_in_force == "FOK" and self._fillable(book, side, volume, price) < volume:
            raise LunoError(400, "ErrOrderCanceled", "Fill or kill order could not be filled")
        return SimOrder(
            order_id=self._new_order_id(), client_order_id=client_order_id, pair=config.pair,
            side=side, order_kind="LIMIT", limit_price=price, limit_volume=volume,
            counter_volume=Decimal(0), time_in_force=time_in_force, created_ms=_now_ms(),
            fee_rate=self.taker_fee_rate, fee_scale=config.fee_scale,
        )

    @staticmethod
    def _check_volume(config: MarketConfig, volume: Decimal) -> None:
        if volume != _quantize(volume, config.volume_scale, ROUND_DOWN):
            raise LunoError(400, "ErrVolumeDenominationNotAllowed",
                            "Volume contains too many decimal places")
        if volume < config.min_volume:
            raise LunoError(400, "ErrVolumeTooLow", "Volume is below the minimum")
        if volume > config.max_volume:
            raise LunoError(400, "ErrVolumeTooHigh", "Volume is above the maximum")

    def _available(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self.reserved.get(asset, Decimal(0))

    @staticmethod
    def _crosses(side: str, level_price: Decimal, limit: Decimal | None) -> bool:
        if limit is None:
            return True
        return level_price <= limit if side == "BUY" else level_price >= limit

    def _fillable(self, book: Book, side: str, volume: Decimal, limit: Decimal) -> Decimal:
        levels = book.asks if side == "BUY" else book.bids
        return sum((lv.volume for lv in levels if self._crosses(side, lv.price, limit)),
                   Decimal(0))

    def _match(self, book: Book, order: SimOrder, fill_ratio: Decimal | None) -> None:
        """Take liquidity level by level; settle balances; close or rest the order."""
        config = book.config
        levels = book.asks if order.side == "BUY" else book.bids
        limit = order.limit_price if order.order_kind == "LIMIT" else None
        # What is left to fill: base for sells and limit orders, counter for market buys.
        by_counter = order.order_kind == "MARKET" and order.side == "BUY"
        wanted = order.counter_volume if by_counter else order.limit_volume
        if fill_ratio is not None:
            wanted = _quantize(wanted * fill_ratio, config.price_scale if by_counter
                               else config.volume_scale, ROUND_DOWN)
        remaining = wanted
        now = _now_ms()
        while remaining > 0 and levels and self._crosses(order.side, levels[0].price, limit):
            level = levels[0]
            if by_counter:
                take = min(level.volume, _quantize(remaining / level.price, config.volume_scale,
                                                   ROUND_DOWN))
                if take <= 0:
                    break
                remaining -= take * level.price
            else:
                take = min(level.volume, remaining)
                remaining -= take
            order.fills.append(Fill(next(self._trade_sequence), level.price, take, now))
            level.volume -= take
            if level.volume <= 0:
                levels.pop(0)
        base, counter = order.base, order.counter
        if order.side == "SELL":
            self.balances[config.base] -= base
            self.balances[config.counter] = (self.balances.get(config.counter, Decimal(0))
                                             + counter - order.fee_counter)
        else:
            self.balances[config.counter] -= counter
            self.balances[config.base] = (self.balances.get(config.base, Decimal(0))
                                          + base - order.fee_base)
        resting = (order.order_kind == "LIMIT" and order.time_in_force == "GTC"
                   and fill_ratio is None and order.base < order.limit_volume)
        if resting:
            open_volume = order.limit_volume - order.base
            if order.side == "SELL":
                self.reserved[config.base] = (self.reserved.get(config.base, Decimal(0))
                                              + open_volume)
            else:
                self.reserved[config.counter] = (self.reserved.get(config.counter, Decimal(0))
                                                 + open_volume * order.limit_price)
        else:
            order.state = "COMPLETE"
            order.completed_ms = now

    def _complete(self, order: SimOrder) -> None:
        config = self.books[order.pair].config
        open_volume = order.limit_volume - order.base
        if order.side == "SELL":
            self.reserved[config.base] -= open_volume
        else:
            self.reserved[config.counter] -= open_volume * order.limit_price
        order.state = "COMPLETE"
        order.completed_ms = order.expiration_ms = _now_ms()


def _add_level(levels: list[Level], price: Decimal, volume: Decimal) -> None:
    for level in levels:
        if level.price == price:
            level.volume += volume
            return
    levels.append(Level(price, volume))


def _market_from_dict(data: dict[str, Any]) -> MarketConfig:
    decimals = {"mid", "min_volume", "max_volume", "level_volume", "half_spread", "level_step"}
    values = {key: Decimal(str(value)) if key in decimals else value for key, value in data.items()}
    return replace(MarketConfig(values.pop("pair"), values.pop("base"), values.pop("counter"),
                                values.pop("mid")), **values)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        content_type = self.headers.get("Content-Type", "")
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            # Luno takes parameters in the query string or as a form body.
            params.update({key: values[-1] for key, values in parse_qs(body.decode()).items()})
        headers = {key.lower(): value for key, value in self.headers.items()}
        sandbox = self.server.sandbox
        try:
            status, payload, delay = sandbox.route(self.command, parts.path, params, headers, body)
        except Exception:
            logger.exception("Exchange sandbox failed on %s %s", self.command, parts.path)
            error = LunoError(500, "ErrInternal", "Something went wrong.")
            status, payload, delay = 500, error.body(), None
        if delay:
            # The work is done; the client gives up waiting before it hears about it.
            sandbox.stopping.wait(delay)
        encoded = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("Exchange sandbox client left before the answer to %s", parts.path)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("exchange sandbox: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: ExchangeSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)
