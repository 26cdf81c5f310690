"""HTTP plumbing shared by the loopback simulators of Daraja and MoMo.

Each simulator is a small threaded HTTP server on loopback, started and stopped from Python
(tests, the ``sandbox`` command). Requests are handed to ``route()`` as plain ``SandboxRequest``
objects so that the simulators read like the API they imitate rather than like
``http.server`` code. Asynchronous callbacks leave from timer threads after a delay, with a
timeout, the way a provider's notifier calls back some time after the synchronous answer.

Nothing here imports Django: the ``sandbox`` command must run without a database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

logger = logging.getLogger(__name__)

DEFAULT_CALLBACK_DELAY_SECONDS = 0.3
DEFAULT_CALLBACK_TIMEOUT_SECONDS = 5.0
# How long a "timeout after payment" request is held before the connection is dropped unanswered.
DEFAULT_HANG_SECONDS = 1.0
# How long the "delayed callback" scenario holds its result back: long enough for a status query
# to answer first.
DEFAULT_LATE_CALLBACK_SECONDS = 3.0


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"Cannot serialise {type(value).__name__}")


def json_dumps(value: Any) -> bytes:
    return json.dumps(value, default=json_default).encode()


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """Parsed body; numbers with a fraction become Decimal so that no float sneaks in."""
        if not self.body:
            return None
        return json.loads(self.body, parse_float=Decimal)


@dataclass
class SandboxResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Drop the connection without answering (after ``hang_seconds``): the client cannot know
    # whether the request was processed.
    hang_seconds: float | None = None

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json_dumps(self.body)


def json_response(status: int, body: Any = None, **headers: str) -> SandboxResponse:
    return SandboxResponse(status=status, body=body,
                           headers={"Content-Type": "application/json", **headers})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        request = SandboxRequest(
            method=self.command,
            path=parts.path,
            query=query,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.simulator.route(request)
        except Exception:
            logger.exception("Sandbox %s failed on %s %s", self.server.simulator.name,
                             request.method, request.path)
            response = json_response(500, {"error": "sandbox internal error"})
        if response.hang_seconds is not None:
            self.server.simulator.stopping.wait(response.hang_seconds)
            self.close_connection = True
            return
        payload = response.encoded()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    # http.server looks the handlers up by these names.
    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s: " + format, self.server.simulator.name, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A hanging request must not keep stop() waiting.
    block_on_close = False

    def __init__(self, address: tuple[str, int], simulator: SandboxServer) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)


class SandboxServer:
    """Base class of a simulator: lifecycle, callback delivery and the shared control surface.

    Subclasses implement ``handle(request)`` for the provider's own API; ``route`` answers the
    ``/_sandbox/...`` paths common to every simulator first.
    """

    name = "sandbox"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 callback_delay: float = DEFAULT_CALLBACK_DELAY_SECONDS,
                 callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT_SECONDS,
                 hang_seconds: float = DEFAULT_HANG_SECONDS,
                 late_callback_seconds: float = DEFAULT_LATE_CALLBACK_SECONDS) -> None:
        self.host = host
        self.port = port
        self.callback_delay = callback_delay
        self.callback_timeout = callback_timeout
        self.hang_seconds = hang_seconds
        self.late_callback_seconds = late_callback_seconds
        # A scenario name forced for every payment request, whatever the recipient number.
        self.forced_scenario: str | None = None
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.payments: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self._timers: list[threading.Timer] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a background thread. Raises ``OSError`` if the port is taken."""
        self.stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"{self.name}-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def credentials(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- requests ------------------------------------------------------------------------------

    def route(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/_sandbox/payments" and request.method == "GET":
            with self.lock:
                return json_response(200, {"payments": list(self.payments)})
        if request.path == "/_sandbox/callbacks" and request.method == "GET":
            with self.lock:
                return json_response(200, {"callbacks": list(self.callbacks)})
        if request.path == "/_sandbox/control" and request.method == "POST":
            try:
                options = request.json() or {}
                if not isinstance(options, dict):
                    raise ValueError("control body must be a JSON object")
                self.control(options)
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(200, self.control_state())
        if request.path == "/_sandbox/control" and request.method == "GET":
            return json_response(200, self.control_state())
        return self.handle(request)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        raise NotImplementedError

    def control(self, options: dict[str, Any]) -> None:
        """Change behaviour at run time: ``scenario`` (name or null), ``callback_delay``,
        ``hang_seconds``, ``reset`` (forget payments, callbacks and idempotency records)."""
        with self.lock:
            if "scenario" in options:
                scenario = options["scenario"]
                if scenario is not None and scenario not in self.scenario_names():
                    raise ValueError(f"unknown scenario {scenario!r}")
                self.forced_scenario = scenario
            if "callback_delay" in options:
                self.callback_delay = float(options["callback_delay"])
            if "hang_seconds" in options:
                self.hang_seconds = float(options["hang_seconds"])
            if "late_callback_seconds" in options:
                self.late_callback_seconds = float(options["late_callback_seconds"])
            if options.get("reset"):
                self.reset()

    def control_state(self) -> dict[str, Any]:
        with self.lock:
            return {"scenario": self.forced_scenario, "callback_delay": self.callback_delay,
                    "hang_seconds": self.hang_seconds,
                    "late_callback_seconds": self.late_callback_seconds}

    def reset(self) -> None:
        self.payments.clear()
        self.callbacks.clear()

    def scenario_names(self) -> tuple[str, ...]:
        return tuple(SCENARIOS_BY_DIGIT.values())

    def scenario_for(self, msisdn: str) -> str:
        if self.forced_scenario:
            return self.forced_scenario
        digit = msisdn[-1:] if msisdn[-1:].isdigit() else "0"
        return SCENARIOS_BY_DIGIT[digit]

    def record_payment(self, **payment: Any) -> dict[str, Any]:
        payment.setdefault("paid_at", time.time())
        with self.lock:
            self.payments.append(payment)
        return payment

    # -- callbacks -----------------------------------------------------------------------------

    def send_callback(self, url: str, body: Any, *, method: str = "POST",
                      headers: dict[str, str] | None = None, times: int = 1,
                      delay: float | None = None) -> None:
        """Deliver ``body`` to ``url`` from a timer thread after ``callback_delay`` seconds (or
        ``delay``)."""
        first = self.callback_delay if delay is None else delay
        for index in range(times):
            delay = first + self.callback_delay * index
            timer = threading.Timer(delay, self._deliver, args=(url, body, method, headers or {}))
            timer.daemon = True
            with self.lock:
                self._timers = [t for t in self._timers if t.is_alive()]
                self._timers.append(timer)
            timer.start()

    def _deliver(self, url: str, body: Any, method: str, headers: dict[str, str]) -> None:
        if self.stopping.is_set():
            return
        entry: dict[str, Any] = {"url": url, "method": method, "body": body, "sent_at": time.time()}
        try:
            response = requests.request(
                method, url, data=json_dumps(body),
                headers={"Content-Type": "application/json", **headers},
                timeout=self.callback_timeout,
            )
            entry["status"] = response.status_code
        except requests.RequestException as exc:
            entry["error"] = type(exc).__name__
            logger.info("Sandbox %s could not deliver a callback to %s: %s", self.name, url,
                        type(exc).__name__)
        with self.lock:
            self.callbacks.append(entry)


# Scenario chosen by the last digit of the recipient's number (see each simulator's docstring).
SCENARIOS_BY_DIGIT: dict[str, str] = {
    "0": "success",
    "1": "insufficient_float",
    "2": "invalid_recipient",
    "3": "provider_error",
    "4": "no_callback",
    "5": "duplicate_callback",
    "6": "timeout_after_payment",
    "7": "stuck_pending",
    "8": "delayed_callback",
    "9": "success",
}


class TokenIssuingSandbox(SandboxServer):
    """A simulator whose API hands out expiring bearer tokens (Daraja, MoMo): the lifetime can
    be changed at run time (``token_lifetime`` control) so that tests can watch tokens expire."""

    def __init__(self, *, token_lifetime: int, **options: Any) -> None:
        super().__init__(**options)
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0

    def control(self, options: dict[str, Any]) -> None:
        super().control(options)
        with self.lock:
            if "token_lifetime" in options:
                self.token_lifetime = int(options["token_lifetime"])

    def control_state(self) -> dict[str, Any]:
        state = super().control_state()
        state["token_lifetime"] = self.token_lifetime
        return state

    def reset(self) -> None:
        super().reset()
        self.tokens.clear()
        self.tokens_issued = 0
