"""Loopback simulator of the Bitso REST API v3 (https://bitso.com/api/v3).

The unmodified ccxt ``bitso`` class talks to it once its ``urls['api']['rest']`` points at
``<base_url>/api`` (see ``ramps.liquidity.client``). It checks what Bitso checks: the
``Authorization: Bitso <key>:<nonce>:<signature>`` header, where the signature is the hex
HMAC-SHA256, keyed by the API secret, of ``nonce + method + request path (with query) + JSON
body``; a nonce may not be used twice. Answers have Bitso's envelope, ``{"success": true,
"payload": ...}`` or ``{"success": false, "error": {"code", "message"}}``.

Paths (all under ``/api/v3``):

- public: ``available_books`` (books with limits, tick size and fee tiers), ``catalogues``
  (currencies and their precision; ccxt reads it when it loads markets), ``ticker``,
  ``order_book`` (price levels with ``updated_at``)
- private: ``balance``, ``fees``, ``POST orders`` (``book``, ``side``, ``type`` market|limit,
  ``major``, ``price``, ``time_in_force``, ``origin_id`` - the client's order id, unique among
  the account's orders here), ``orders/{oid}`` and ``orders?oids=|origin_ids=`` (open orders
  only, as Bitso documents), ``open_orders``, ``order_trades/{oid}``, ``user_trades`` (each trade
  carries its order's ``origin_id``: how a filled order is found by client id),
  ``DELETE orders/{oid}``

The order books, the matching and the control scenarios (timeouts, rejects, partial fills,
frozen books, ``set_book``, ``set_mid``...) are those of the Luno simulator
(``ramps.sandbox.exchange``), on Bitso's markets: USDC/MXN and USDT/MXN by default (book ids
``usdc_mxn``). ``reject_next_order`` takes a Bitso error code (``0379`` insufficient balance by
default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections import deque
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from ramps.sandbox.exchange import (
    Book,
    ExchangeSandbox,
    LunoError,
    MarketConfig,
    SimOrder,
    _market_from_dict,
    _now_ms,
    _quantize,
    _text,
)

logger = logging.getLogger(__name__)

EXCHANGE_ID = "bitso"
DEFAULT_API_KEY = "sandbox-bitso-key"
DEFAULT_API_SECRET = "sandbox-bitso-secret-not-for-production"  # noqa: S105 - loopback demo key
DEFAULT_TAKER_FEE_RATE = Decimal("0.0065")
DEFAULT_MAKER_FEE_RATE = Decimal("0.005")

DEFAULT_MARKETS: tuple[MarketConfig, ...] = (
    MarketConfig("usdc_mxn", "USDC", "MXN", Decimal("17.20"), min_volume=Decimal("0.5")),
    MarketConfig("usdt_mxn", "USDT", "MXN", Decimal("17.22"), min_volume=Decimal("0.5")),
)

DEFAULT_BALANCES: dict[str, Decimal] = {
    "USDC": Decimal("1000000"),
    "USDT": Decimal("1000000"),
    "MXN": Decimal("50000000"),
}

CURRENCY_PRECISION = {"USDC": 6, "USDT": 6, "MXN": 2}
DEFAULT_CRYPTO_PRECISION = 8

# Bitso error codes used here (docs.bitso.com "Error codes").
ERR_INVALID_CREDENTIALS = "0201"
ERR_NONCE = "104"
ERR_UNKNOWN_BOOK = "0301"
ERR_MISSING_FIELD = "0303"
ERR_INVALID_FIELD = "0304"
ERR_BAD_SIDE = "0306"
ERR_BAD_TYPE = "0307"
ERR_UNKNOWN_ORDER = "0312"
ERR_INSUFFICIENT_BALANCE = "0379"
ERR_DUPLICATE_ORIGIN_ID = "0405"
ERR_AMOUNT_TOO_LOW = "0323"

# Luno error codes of the shared matching engine, as Bitso codes.
_FROM_LUNO = {
    "ErrInsufficientBalance": ERR_INSUFFICIENT_BALANCE,
    "ErrInvalidMarketPair": ERR_UNKNOWN_BOOK,
    "ErrVolumeTooLow": ERR_AMOUNT_TOO_LOW,
    "ErrOrderNotFound": ERR_UNKNOWN_ORDER,
}

_NONCE_MEMORY = 10_000


class BitsoError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": {"code": self.code, "message": self.message}}


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] \
        + "+00:00"


def _decimal(body: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    raw = body.get(name)
    if raw is None or raw == "":
        if required:
            raise BitsoError(400, ERR_MISSING_FIELD, f"Required field missing: {name}")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise BitsoError(400, ERR_INVALID_FIELD, f"Invalid field: {name}") from exc
    if not value.is_finite() or value <= 0:
        raise BitsoError(400, ERR_INVALID_FIELD, f"Invalid field: {name}")
    return value


class BitsoSandbox(ExchangeSandbox):
    """The simulated Bitso venue. Same constructor as ``ExchangeSandbox`` with Bitso defaults."""

    name = "bitso"

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, api_secret: str = DEFAULT_API_SECRET,
                 markets: Any = None, balances: dict[str, Any] | None = None,
                 taker_fee_rate: Decimal = DEFAULT_TAKER_FEE_RATE, **options: Any) -> None:
        self.order_types: dict[str, str] = {}
        self.order_cancelled: set[str] = set()
        self.seen_nonces: deque[str] = deque(maxlen=_NONCE_MEMORY)
        # Bitso states an order volume's decimal places per currency (the catalogue's
        # precision, which ccxt reads as the amount step); the markets take exactly those, so
        # that a client going by the catalogue never sends a volume this venue refuses.
        configs = [config if isinstance(config, MarketConfig) else _market_from_dict(config)
                   for config in (DEFAULT_MARKETS if markets is None else markets)]
        super().__init__(
            api_key=api_key, api_secret=api_secret,
            markets=[dataclasses.replace(config, volume_scale=CURRENCY_PRECISION.get(
                config.base, DEFAULT_CRYPTO_PRECISION)) for config in configs],
            balances=DEFAULT_BALANCES if balances is None else balances,
            taker_fee_rate=taker_fee_rate, **options)

    def credentials(self) -> dict[str, str]:
        return {"exchange_id": EXCHANGE_ID, "api_base_url": self.base_url,
                "api_key": self.api_key, "api_secret": self.api_secret}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.order_types = {}
            self.order_cancelled = set()
            self.seen_nonces = deque(maxlen=_NONCE_MEMORY)

    # -- HTTP ----------------------------------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
              body: bytes) -> tuple[int, Any, float | None]:
        if path.startswith("/_sandbox/"):
            if path == "/_sandbox/orders" and method == "GET":
                with self.lock:
                    return 200, {"orders": [self._order_json(o) for o in self.orders.values()]}, \
                        None
            return self._route_control(method, path, body)
        try:
            if not path.startswith("/api/v3/"):
                raise BitsoError(404, "0102", "Not found")
            return self._route_v3(method, path[len("/api/v3/"):].rstrip("/"), params, headers,
                                  body)
        except BitsoError as error:
            return error.status, error.body(), None
        except LunoError as error:
            code = _FROM_LUNO.get(error.code, ERR_INVALID_FIELD)
            return error.status, BitsoError(error.status, code, error.message).body(), None

    def _route_v3(self, method: str, endpoint: str, params: dict[str, str],
                  headers: dict[str, str], body: bytes) -> tuple[int, Any, float | None]:
        public = {
            "available_books": self._available_books,
            "catalogues": self._catalogues,
            "ticker": self._ticker_v3,
            "order_book": self._order_book,
        }
        if method == "GET" and endpoint in public:
            with self.lock:
                return 200, {"success": True, "payload": public[endpoint](params)}, None
        self._check_signature(method, endpoint, params, headers, body)
        if method == "POST" and endpoint == "orders":
            try:
                fields = json.loads(body or b"{}", parse_float=Decimal)
            except ValueError as exc:
                raise BitsoError(400, ERR_INVALID_FIELD, "Body is not JSON") from exc
            if not isinstance(fields, dict):
                raise BitsoError(400, ERR_INVALID_FIELD, "Body must be a JSON object")
            return self._place(fields)
        with self.lock:
            if method == "GET" and endpoint == "balance":
                payload: Any = self._balance_v3()
            elif method == "GET" and endpoint == "fees":
                payload = self._fees()
            elif method == "GET" and endpoint == "open_orders":
                payload = [self._order_json(o) for o in self._open_orders(params.get("book"))]
            elif method == "GET" and endpoint == "orders":
                payload = self._lookup(params)
            elif method == "GET" and endpoint.startswith("orders/"):
                order = self.orders.get(endpoint.split("/", 1)[1])
                payload = ([self._order_json(order)]
                           if order is not None and self._is_open(order) else [])
            elif method == "GET" and endpoint.startswith("order_trades/"):
                order = self.orders.get(endpoint.split("/", 1)[1])
                if order is None:
                    raise BitsoError(404, ERR_UNKNOWN_ORDER, "Incorrect OID")
                payload = self._trades_json(order)
            elif method == "GET" and endpoint == "user_trades":
                payload = self._user_trades(params)
            elif method == "DELETE" and endpoint.startswith("orders/"):
                payload = self._cancel(endpoint.split("/", 1)[1])
            else:
                raise BitsoError(404, "0102", f"Unknown endpoint {method} {endpoint}")
        return 200, {"success": True, "payload": payload}, None

    def _check_signature(self, method: str, endpoint: str, params: dict[str, str],
                         headers: dict[str, str], body: bytes) -> None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        key, _, rest = credentials.partition(":")
        nonce, _, signature = rest.partition(":")
        if scheme != "Bitso" or not key or not nonce.isdigit() or not signature:
            raise BitsoError(401, ERR_INVALID_CREDENTIALS, "Invalid credentials")
        path = f"/api/v3/{endpoint}"
        if method in ("GET", "DELETE") and params:
            path += "?" + urlencode(params)
        message = nonce + method + path + (body.decode() if body else "")
        expected = hmac.new(self.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if key != self.api_key or not hmac.compare_digest(expected, signature):
            raise BitsoError(401, ERR_INVALID_CREDENTIALS, "Invalid credentials")
        with self.lock:
            if nonce in self.seen_nonces:
                raise BitsoError(400, ERR_NONCE,
                                 f"Cannot perform request - nonce {nonce} was already used")
            self.seen_nonces.append(nonce)

    # -- public --------------------------------------------------------------------------------

    def _config(self, book_id: str | None) -> Book:
        book = self.books.get(book_id or "")
        if book is None:
            raise BitsoError(400, ERR_UNKNOWN_BOOK, "Unknown OrderBook")
        self._drift(book)
        return book

    def _available_books(self, params: dict[str, str]) -> list[dict[str, Any]]:
        rate = _text(self.taker_fee_rate)
        maker = _text(DEFAULT_MAKER_FEE_RATE)
        return [{
            "book": config.pair,
            "minimum_amount": _text(config.min_volume),
            "maximum_amount": _text(config.max_volume),
            "minimum_price": "0.01",
            "maximum_price": "1000000.00",
            "minimum_value": "1.00",
            "maximum_value": "100000000.00",
            "tick_size": _text(Decimal(1).scaleb(-config.price_scale)),
            "fees": {
                "flat_rate": {"maker": _text(DEFAULT_MAKER_FEE_RATE * 100),
                              "taker": _text(self.taker_fee_rate * 100)},
                "structure": [{"volume": "1500000", "maker": maker, "taker": rate}],
            },
        } for config in self.market_configs]

    def _catalogues(self, params: dict[str, str]) -> dict[str, Any]:
        codes = sorted({c.base for c in self.market_configs} | {c.counter for c in
                                                                 self.market_configs})
        return {"currencies": {"metadata": [
            {"code": code.lower(), "full_name": code, "type": "fiat" if code == "MXN" else
             "crypto", "precision": str(CURRENCY_PRECISION.get(code, DEFAULT_CRYPTO_PRECISION))}
            for code in codes]}}

    def _order_book(self, params: dict[str, str]) -> dict[str, Any]:
        book = self._config(params.get("book"))
        timestamp = book.frozen_at_ms if book.frozen_at_ms is not None else _now_ms()
        side = lambda levels: [{"book": book.config.pair, "price": _text(level.price),  # noqa: E731
                                "amount": _text(level.volume)} for level in levels]
        return {"asks": side(book.asks), "bids": side(book.bids),
                "updated_at": _iso(timestamp), "sequence": str(timestamp)}

    def _ticker_v3(self, params: dict[str, str]) -> dict[str, Any]:
        book = self._config(params.get("book"))
        bid = book.bids[0].price if book.bids else Decimal(0)
        ask = book.asks[0].price if book.asks else Decimal(0)
        return {"book": book.config.pair, "bid": _text(bid), "ask": _text(ask),
                "last": _text(book.mid), "high": _text(book.mid), "low": _text(book.mid),
                "volume": "0", "vwap": _text(book.mid), "created_at": _iso(_now_ms())}

    # -- private -------------------------------------------------------------------------------

    def _balance_v3(self) -> dict[str, Any]:
        return {"balances": [{
            "currency": asset.lower(),
            "total": _text(total),
            "locked": _text(self.reserved.get(asset, Decimal(0))),
            "available": _text(total - self.reserved.get(asset, Decimal(0))),
        } for asset, total in sorted(self.balances.items())]}

    def _fees(self) -> dict[str, Any]:
        return {"fees": [{"book": c.pair, "fee_percent": _text(self.taker_fee_rate * 100),
                          "fee_decimal": _text(self.taker_fee_rate),
                          "taker_fee_percent": _text(self.taker_fee_rate * 100),
                          "taker_fee_decimal": _text(self.taker_fee_rate),
                          "maker_fee_percent": _text(DEFAULT_MAKER_FEE_RATE * 100),
                          "maker_fee_decimal": _text(DEFAULT_MAKER_FEE_RATE)}
                         for c in self.market_configs], "withdrawal_fees": {}}

    def _is_open(self, order: SimOrder) -> bool:
        return order.state == "PENDING"

    def _open_orders(self, book_id: str | None) -> list[SimOrder]:
        return [o for o in self.orders.values()
                if self._is_open(o) and (not book_id or o.pair == book_id)]

    def _lookup(self, params: dict[str, str]) -> list[dict[str, Any]]:
        if params.get("origin_ids"):
            wanted = set(params["origin_ids"].split(","))
            found = [o for o in self.orders.values() if o.client_order_id in wanted]
        elif params.get("oids"):
            wanted = set(params["oids"].split(","))
            found = [o for o in self.orders.values() if o.order_id in wanted]
        else:
            raise BitsoError(400, ERR_MISSING_FIELD, "Provide oids or origin_ids")
        return [self._order_json(o) for o in found if self._is_open(o)]

    def _status(self, order: SimOrder) -> str:
        if order.order_id in self.order_cancelled:
            return "cancelled"
        if order.state == "PENDING":
            return "partially filled" if order.base > 0 else "open"
        return "completed" if order.base > 0 else "cancelled"

    def _order_json(self, order: SimOrder) -> dict[str, Any]:
        kind = self.order_types.get(order.order_id, "limit")
        created = _iso(order.created_ms)
        return {
            "book": order.pair,
            "oid": order.order_id,
            "origin_id": order.client_order_id,
            "side": order.side.lower(),
            "type": kind,
            "status": self._status(order),
            "price": _text(order.limit_price) if kind == "limit" else None,
            "original_amount": _text(order.limit_volume),
            "unfilled_amount": _text(order.limit_volume - order.base),
            "original_value": (_text(order.limit_volume * order.limit_price)
                               if kind == "limit" else None),
            "time_in_force": order.time_in_force.lower() or "goodtillcancelled",
            "created_at": created,
            "updated_at": _iso(order.completed_ms or order.created_ms),
        }

    def _trades_json(self, order: SimOrder) -> list[dict[str, Any]]:
        config = self.books[order.pair].config
        trades = []
        for fill in order.fills:
            minor = _quantize(fill.price * fill.volume, config.price_scale, ROUND_DOWN)
            selling = order.side == "SELL"
            # Bitso charges the fee in the currency received.
            fee = _quantize((minor if selling else fill.volume) * order.fee_rate,
                            config.price_scale if selling else 8)
            trades.append({
                "book": order.pair,
                "tid": fill.sequence,
                "oid": order.order_id,
                "origin_id": order.client_order_id,
                "side": order.side.lower(),
                "maker_side": "buy" if selling else "sell",
                "major": _text(-fill.volume if selling else fill.volume),
                "minor": _text(minor if selling else -minor),
                "price": _text(fill.price),
                "fees_amount": _text(fee),
                "fees_currency": (config.counter if selling else config.base).lower(),
                "created_at": _iso(fill.timestamp_ms),
            })
        return trades

    def _user_trades(self, params: dict[str, str]) -> list[dict[str, Any]]:
        trades = [trade for order in self.orders.values()
                  if not params.get("book") or order.pair == params["book"]
                  for trade in self._trades_json(order)]
        trades.sort(key=lambda trade: trade["tid"], reverse=True)
        return trades[:int(params.get("limit") or 25)]

    def _cancel(self, oid: str) -> list[str]:
        order = self.orders.get(oid)
        if order is None or not self._is_open(order):
            return []
        self._complete(order)
        self.order_cancelled.add(oid)
        return [oid]

    def _place(self, fields: dict[str, Any]) -> tuple[int, Any, float | None]:
        with self.lock:
            self.order_attempts.append({"path": "/api/v3/orders", "params": dict(fields)})
            delay, self.next_order_delay = self.next_order_delay, None
            error_code, self.next_order_error = self.next_order_error, None
            fill_ratio, self.next_order_fill_ratio = self.next_order_fill_ratio, None
            origin_id = str(fields.get("origin_id") or "")
            if origin_id and origin_id in self.orders_by_client_id:
                raise BitsoError(400, ERR_DUPLICATE_ORIGIN_ID,
                                 "An order with this origin_id already exists")
            if error_code:
                raise BitsoError(400, _FROM_LUNO.get(error_code, error_code),
                                 "Order rejected by the sandbox scenario")
            book = self._config(str(fields.get("book") or ""))
            order = self._new_order(book, fields, origin_id)
            self._match(book, order, fill_ratio)
            if order.order_id in self.order_types and self.order_types[order.order_id] == \
                    "market" and order.state == "PENDING":
                self._complete(order)
            self.orders[order.order_id] = order
            if origin_id:
                self.orders_by_client_id[origin_id] = order.order_id
        return 200, {"success": True, "payload": {"oid": order.order_id}}, delay

    def _new_order(self, book: Book, fields: dict[str, Any], origin_id: str) -> SimOrder:
        config = book.config
        side = str(fields.get("side") or "")
        if side not in ("buy", "sell"):
            raise BitsoError(400, ERR_BAD_SIDE, "Order side not in (buy, sell)")
        kind = str(fields.get("type") or "")
        if kind not in ("market", "limit"):
            raise BitsoError(400, ERR_BAD_TYPE, "Order type not in (limit, market)")
        if fields.get("minor") not in (None, ""):
            raise BitsoError(400, ERR_INVALID_FIELD, "This sandbox takes orders by major only")
        major = _decimal(fields, "major") or Decimal(0)
        self._check_volume(config, major)
        price = _decimal(fields, "price", required=kind == "limit")
        if price is not None and price != _quantize(price, config.price_scale, ROUND_DOWN):
            raise BitsoError(400, ERR_INVALID_FIELD, "Price is finer than the tick size")
        time_in_force = str(fields.get("time_in_force") or "goodtillcancelled").lower()
        tif = {"goodtillcancelled": "GTC", "immediateorcancel": "IOC", "fillorkill": "FOK"}.get(
            time_in_force)
        if tif is None:
            raise BitsoError(400, ERR_INVALID_FIELD, "Invalid time_in_force")
        if kind == "market":
            tif = "IOC"
        upper = side.upper()
        if upper == "SELL" and major > self._available(config.base):
            raise BitsoError(400, ERR_INSUFFICIENT_BALANCE, "Insufficient balance")
        if upper == "BUY":
            worst = price if price is not None else (book.asks[-1].price if book.asks
                                                     else Decimal(0))
            if worst * major > self._available(config.counter):
                raise BitsoError(400, ERR_INSUFFICIENT_BALANCE, "Insufficient balance")
        limit = price if price is not None else (Decimal("Infinity") if upper == "BUY"
                                                 else Decimal(0))
        if tif == "FOK" and self._fillable(book, upper, major, limit) < major:
            raise BitsoError(400, ERR_INVALID_FIELD, "Fill or kill order could not be filled")
        order = SimOrder(
            order_id=self._new_order_id(), client_order_id=origin_id, pair=config.pair,
            side=upper, order_kind="LIMIT", limit_price=limit, limit_volume=major,
            counter_volume=Decimal(0), time_in_force=tif, created_ms=_now_ms(),
            fee_rate=self.taker_fee_rate, fee_scale=config.fee_scale,
        )
        self.order_types[order.order_id] = kind
        return order
