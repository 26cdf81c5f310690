"""Start and stop every loopback simulator together (exchange, Daraja, MoMo).

Used by the ``sandbox`` management command and by the demo. The exchange simulator lives in
another module that may be absent in a partial checkout; it is then skipped with a warning rather
than stopping the mobile-money simulators from starting.
"""

from __future__ import annotations

import errno
import logging
import warnings
from typing import Any

from ramps.sandbox.daraja import DarajaSandbox
from ramps.sandbox.momo import MomoSandbox

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS: dict[str, int] = {"exchange": 8101, "daraja": 8102, "momo": 8103, "bitso": 8104}


class SandboxPortInUseError(OSError):
    """A simulator could not bind its port."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE,
                         f"{host}:{port} is already in use (wanted by the {name} sandbox)")
        self.name = name
        self.host = host
        self.port = port


def _exchange_class() -> type | None:
    try:
        from ramps.sandbox.exchange import ExchangeSandbox
    except ImportError as exc:
        warnings.warn(f"Exchange sandbox not available, skipped: {exc}", stacklevel=3)
        return None
    return ExchangeSandbox


def sandboxes_start(*, host: str = DEFAULT_HOST, ports: dict[str, int] | None = None,
                    callback_delay: float | None = None) -> dict[str, Any]:
    """Start every simulator; return them by name. Port 0 picks a free port.

    If one cannot bind, the ones already started are stopped and ``SandboxPortInUseError`` (or
    the original ``OSError``) is raised, so a failed start leaves nothing running.
    """
    ports = {**DEFAULT_PORTS, **(ports or {})}
    callback_options = {} if callback_delay is None else {"callback_delay": callback_delay}
    factories: list[tuple[str, Any]] = []
    exchange_class = _exchange_class()
    if exchange_class is not None:
        factories.append(("exchange", lambda: exchange_class(host=host, port=ports["exchange"])))
    try:
        from ramps.sandbox.exchange_bitso import BitsoSandbox

        factories.append(("bitso", lambda: BitsoSandbox(host=host, port=ports["bitso"])))
    except ImportError as exc:  # pragma: no cover - present in a full checkout
        warnings.warn(f"Bitso sandbox not available, skipped: {exc}", stacklevel=2)
    factories.append(("daraja", lambda: DarajaSandbox(host=host, port=ports["daraja"],
                                                      **callback_options)))
    factories.append(("momo", lambda: MomoSandbox(host=host, port=ports["momo"],
                                                  **callback_options)))
    started: dict[str, Any] = {}
    for name, factory in factories:
        simulator = factory()
        try:
            simulator.start()
        except OSError as exc:
            sandboxes_stop(started)
            if exc.errno == errno.EADDRINUSE:
                raise SandboxPortInUseError(name, host, ports[name]) from exc
            raise
        started[name] = simulator
    return started


def sandboxes_stop(simulators: dict[str, Any]) -> None:
    for name, simulator in reversed(list(simulators.items())):
        try:
            simulator.stop()
        except Exception:
            logger.exception("Stopping the %s sandbox failed", name)


def sandboxes_describe(simulators: dict[str, Any]) -> dict[str, Any]:
    """What a client needs to reach each simulator: its base URL and credentials."""
    return {name: {"base_url": simulator.base_url, "credentials": simulator.credentials()}
            for name, simulator in simulators.items()}
