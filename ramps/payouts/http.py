"""Outbound HTTP helpers shared by the rail clients: timeouts, "was it sent?" and token caching."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from django.conf import settings
from urllib3.exceptions import NewConnectionError

from ramps.payouts.rails import RailNotSentError


def http_timeout() -> float:
    return settings.OUTBOUND_HTTP_TIMEOUT_SECONDS


def surely_not_sent(exc: requests.RequestException) -> bool:
    """True only when the request cannot have reached the server: the connection was never
    established. A read timeout or a dropped connection may come after the server acted."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


class TokenCache:
    """Process-wide cache of OAuth access tokens, refreshed shortly before they expire.

    Keyed by (base URL, client id) so that two rails on different accounts never share a token.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, key: tuple[str, str], fetch: Callable[[], tuple[str, int]]) -> str:
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            try:
                token, lifetime = fetch()
            except requests.RequestException as exc:
                raise RailNotSentError(f"token request failed: {type(exc).__name__}") from exc
            # Refresh a little before the provider's expiry so a request never carries a token
            # that expires in flight.
            margin = min(60.0, lifetime * 0.1)
            self._tokens[key] = (token, time.monotonic() + lifetime - margin)
            return token

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


token_cache = TokenCache()
