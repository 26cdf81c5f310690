"""Per-partner request rate limits of the partner API, announced in every answer.

Each partner may make ``Partner.api_requests_per_minute`` requests (``API_RATE_LIMIT_PER_MINUTE``
when the partner has no limit of its own) in each fixed window of ``API_RATE_LIMIT_WINDOW_SECONDS``.
The count lives in Django's cache (``CACHE_URL``; Redis when several processes serve the API, so
they share one count), incremented atomically once per request.

Every answer to an authenticated partner request carries the IETF draft's headers
(draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds until the window ends). A request over the limit gets 429
``rate-limited`` problem details with ``Retry-After`` (seconds) and nothing behind it runs.
Requests that carry no valid key (401) are not counted: they name no partner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

DEFAULT_REQUESTS_PER_MINUTE = 600
DEFAULT_WINDOW_SECONDS = 60
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# Where the throttle leaves its verdict for the middleware (on the Django request).
_STATE_ATTRIBUTE = "rate_limit_state"


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit),
                "RateLimit-Remaining": str(max(self.remaining, 0)),
                "RateLimit-Reset": str(self.reset_seconds)}


def window_seconds() -> int:
    return max(1, int(getattr(settings, "API_RATE_LIMIT_WINDOW_SECONDS",
                              DEFAULT_WINDOW_SECONDS)))


def partner_request_limit(partner: Any) -> int:
    """Requests the partner may make per window: its own limit, else the default."""
    own = getattr(partner, "api_requests_per_minute", None)
    if own is not None:
        return int(own)
    return int(getattr(settings, "API_RATE_LIMIT_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE))


def clock() -> float:
    """Seconds since the epoch (a function of its own, so tests can hold time still)."""
    return time.time()


def rate_limit_count(*, partner: Any) -> RateLimitState:
    """Count one request of ``partner`` in the current window and say where it stands."""
    now = clock()
    window = window_seconds()
    window_start = int(now // window) * window
    key = f"rate-limit:{partner.public_id}:{window_start}"
    # add() is a no-op when the key exists; incr() is atomic in the cache backends Django ships.
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.add(key, 1, timeout=window + 1)
        count = 1
    limit = partner_request_limit(partner)
    reset = max(1, math.ceil(window_start + window - now))
    return RateLimitState(limit=limit, remaining=limit - count, reset_seconds=reset)


class PartnerRateThrottle(BaseThrottle):
    """DRF throttle keyed on the authenticated partner (``request.partner``)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        partner = getattr(request._request, "partner", None)
        if partner is None:
            return True
        state = rate_limit_count(partner=partner)
        setattr(request._request, _STATE_ATTRIBUTE, state)
        self._state = state
        return not state.exceeded

    def wait(self) -> float | None:
        state = getattr(self, "_state", None)
        return float(state.reset_seconds) if state is not None else None


class RateLimitHeadersMiddleware:
    """Puts the throttle's verdict on the answer, whichever view or error produced it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        state: RateLimitState | None = getattr(request, _STATE_ATTRIBUTE, None)
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return response
