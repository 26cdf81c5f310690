"""OpenAPI post-processing for the partner operations: problems and rate-limit headers.

Views declare their own answers; what is true of every partner operation is written here once
(a drf-spectacular postprocessing hook, ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``):

- every operation documents 400 (a control character anywhere, a malformed body), and one
  with a body 413;
- every 4xx/5xx answer is ``application/problem+json`` with the ``Problem`` schema (as
  ``gateway.common.problems`` renders it), whatever the view declared, and ``Problem`` is
  defined here once;
- every answer but 401 documents ``RateLimit-Limit``, ``RateLimit-Remaining`` and
  ``RateLimit-Reset`` (``gateway.common.throttling``), and a 429 answer with ``Retry-After``.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.common.problems import PROBLEM_CONTENT_TYPE

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details (application/problem+json), as every error is "
                   "answered. Problem types may add their own members (errors, "
                   "existing_transfer_id, ...).",
    "properties": {
        "type": {"type": "string", "description": "Stable problem type, e.g. "
                                                  "/problems/quote-expired"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "description": "What is wrong: messages per field (validation-error), or a list "
                           "of {detail, pointer} with a JSON pointer into the body "
                           "(travel-rule-data-invalid)",
            "oneOf": [
                {"type": "object", "additionalProperties": {}},
                {"type": "array", "items": {
                    "type": "object", "required": ["detail"],
                    "properties": {"detail": {"type": "string"},
                                   "pointer": {"type": "string"}}}},
            ],
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def _header(description: str, minimum: int = 0) -> dict[str, Any]:
    return {"schema": {"type": "integer", "minimum": minimum}, "description": description}


RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests your account may make in the current window (IETF "
                               "draft RateLimit header fields); on every answer but 401"),
    "RateLimit-Remaining": _header("Requests left in the current window"),
    "RateLimit-Reset": _header("Seconds until the current window ends and the count starts "
                               "again", minimum=1),
}
RETRY_AFTER = _header("Seconds to wait before the next request", minimum=1)
BAD_REQUEST = ("A control character in the path, a parameter, a header or the body "
               "(control-character), or a malformed or invalid body (malformed-request, "
               "json-too-deep, validation-error)")
TOO_LARGE = "Body larger than REQUEST_MAX_BODY_BYTES (payload-too-large)"
TOO_MANY = "Too many requests (problem type /problems/rate-limited): wait Retry-After seconds"


def _is_api_operation(operation: Any) -> bool:
    """An operation of the key-holders' API (a partner's or an agent network's key)."""
    return isinstance(operation, dict) and "responses" in operation and bool(
        operation.get("security"))


def _is_partner_operation(operation: dict) -> bool:
    return any("PartnerApiKey" in requirement for requirement in operation["security"])


def partner_operations_schema_hook(result: dict, generator: Any, request: Any,
                                   public: bool) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)  # one definition, whoever referenced it
    problem_content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not _is_api_operation(operation):
                continue
            responses = operation["responses"]
            responses.setdefault("400", {"description": BAD_REQUEST})
            if "requestBody" in operation:
                responses.setdefault("413", {"description": TOO_LARGE})
            if _is_partner_operation(operation):
                responses.setdefault("429", {"description": TOO_MANY})
                responses["429"].setdefault("headers", {})["Retry-After"] = copy.deepcopy(
                    RETRY_AFTER)
                for code, response in responses.items():
                    if code != "401":
                        response.setdefault("headers", {}).update(
                            copy.deepcopy(RATE_LIMIT_HEADERS))
            for code, response in responses.items():
                if code[:1] in "45":
                    response["content"] = copy.deepcopy(problem_content)
    return result
