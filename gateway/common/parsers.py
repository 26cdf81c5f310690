"""The API's JSON parser: DRF's, with the body size and nesting bounded before parsing.

The middleware (``gateway.common.middleware``) already refuses such bodies for every endpoint;
the parser holds the same line for any view reached without it (a test client, another stack).
"""

from __future__ import annotations

import codecs
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

from gateway.common.limits import JSONTooDeepError, json_loads_bounded, request_limits


class PayloadTooLarge(exceptions.APIException):
    """The request body is over the configured bound (``REQUEST_MAX_BODY_BYTES``)."""

    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class JSONTooDeep(exceptions.ParseError):
    """The JSON body nests deeper than ``REQUEST_MAX_JSON_DEPTH``; it was not parsed."""

    default_detail = "The JSON body is nested too deeply."
    default_code = "json_too_deep"


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        max_body, _, max_depth = request_limits()
        raw = stream.read(max_body + 1) if stream is not None else b""
        if len(raw) > max_body:
            raise PayloadTooLarge(f"The body has more than {max_body} bytes.")
        try:
            text = codecs.decode(raw, encoding)
            return json_loads_bounded(text, max_depth=max_depth)
        except JSONTooDeepError as exc:
            raise JSONTooDeep(f"JSON parse error - {exc}") from exc
        except (ValueError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
