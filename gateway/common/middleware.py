"""Request limits applied to every endpoint before any view runs (API, callbacks, admin, portal).

A body larger than ``REQUEST_MAX_BODY_BYTES`` (``REQUEST_MAX_UPLOAD_BYTES`` for multipart
uploads) is refused with 413 before it is read; a JSON body nested deeper than
``REQUEST_MAX_JSON_DEPTH`` is refused with 400 before anything parses it. Both answers are RFC 9457
problem details. The recursion limit is checked on the way in too, so that a library that raises
it at run time is undone before the next request (see ``gateway.common.limits``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from gateway.common.limits import SANE_RECURSION_LIMIT, json_depth_exceeds, request_limits
from gateway.common.problems import PROBLEM_CONTENT_TYPE, problem_body

logger = logging.getLogger(__name__)


def _problem(request: HttpRequest, status: int, slug: str, title: str,
             detail: str) -> JsonResponse:
    body = problem_body(slug=slug, title=title, status=status, detail=detail,
                        instance=request.path)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _looks_like_json(body: bytes) -> bool:
    start = body.lstrip(b" \t\r\n")[:1]
    return start in (b"[", b"{")


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if sys.getrecursionlimit() > SANE_RECURSION_LIMIT:
            logger.warning("Recursion limit was raised to %s; set back to %s",
                           sys.getrecursionlimit(), SANE_RECURSION_LIMIT)
            sys.setrecursionlimit(SANE_RECURSION_LIMIT)
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request: HttpRequest) -> JsonResponse | None:
        max_body, max_upload, max_depth = request_limits()
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            return _problem(request, 400, "malformed-request", "Malformed request",
                            "Content-Length is not a number.")
        if length < 0:
            return _problem(request, 400, "malformed-request", "Malformed request",
                            "Content-Length is negative.")
        multipart = (request.META.get("CONTENT_TYPE") or "").lower().startswith("multipart/")
        limit = max_upload if multipart else max_body
        if length > limit:
            return _problem(request, 413, "payload-too-large", "Request body too large",
                            f"The body has {length} bytes; at most {limit} are accepted.")
        if multipart or length == 0:
            return None
        body = request.body  # at most `limit` bytes: the server reads Content-Length bytes
        if _looks_like_json(body) and json_depth_exceeds(body, max_depth):
            return _problem(request, 400, "json-too-deep", "JSON nested too deeply",
                            f"The body nests arrays or objects deeper than {max_depth} levels.")
        return None
