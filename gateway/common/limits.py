"""Bounds on what one request may make the process do: body size, JSON nesting, recursion depth.

Everything from outside is untrusted (invariant 11). Python's JSON decoder recurses once per
nesting level; under a sane recursion limit a deeply nested body raises ``RecursionError`` (a
500 instead of a 400), and under a huge one (``py_ecc`` raises the limit to 100000 when it is
imported) it overflows the C stack and the worker dies with SIGSEGV. So nesting is measured before
anything is parsed, and the process keeps the interpreter's default recursion limit.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
import sys
from typing import Any

logger = logging.getLogger(__name__)

# The interpreter's own default: enough for Django, DRF and web3, small enough that the C stack of
# a worker thread cannot overflow before Python raises RecursionError.
SANE_RECURSION_LIMIT = 1000
# Installed packages known to raise the limit when imported. Importing them here, once, before
# the limit is put back means their import side effect cannot come back later in the process.
RECURSION_LIMIT_RAISERS = ("py_ecc",)

DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024

# A JSON string (with its escapes) or one bracket; strings are skipped so that brackets inside
# them do not count. The string part is the "unrolled loop" form, linear on long strings.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENERS = frozenset(b"[{")


class JSONTooDeepError(ValueError):
    """A JSON document nested deeper than allowed; nothing of it was parsed."""


def request_limits() -> tuple[int, int, int]:
    """(body bytes, multipart upload bytes, JSON depth) from settings, or the defaults."""
    from django.conf import settings

    return (getattr(settings, "REQUEST_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            getattr(settings, "REQUEST_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            getattr(settings, "REQUEST_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH))


def recursion_limit_restore(limit: int = SANE_RECURSION_LIMIT) -> int:
    """Import the known offenders, then put the recursion limit back to ``limit`` if it is higher.

    Returns the limit found before (so a caller can log what it undid).
    """
    for module in RECURSION_LIMIT_RAISERS:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    found = sys.getrecursionlimit()
    if found > limit:
        sys.setrecursionlimit(limit)
    return found


def json_depth_exceeds(raw: bytes | str, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``limit``.

    Linear in the size of the text and never recursive. Malformed text is measured as far as it
    goes (an unbalanced closing bracket does not make room for more openers); whether it parses
    is the parser's business afterwards.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif depth > 0:
            depth -= 1
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_loads_bounded(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH,
                       parse_float: Any = None) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``max_depth`` before parsing, and
    NaN/Infinity (not JSON). Raises ``JSONTooDeepError`` or ``ValueError``."""
    if json_depth_exceeds(raw, max_depth):
        raise JSONTooDeepError(f"JSON nested deeper than {max_depth} levels")
    text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    return json.loads(text, parse_constant=_reject_constant, parse_float=parse_float)


def without_nul(value: Any) -> Any:
    """A copy of a parsed JSON value with every NUL character (U+0000) in keys and strings
    replaced by U+FFFD: PostgreSQL text and jsonb cannot hold NUL. Keep the raw bytes elsewhere
    when the exact value matters."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable_text(text: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", "\ufffd"))


def json_storable(value: Any) -> Any:
    """A copy of a parsed JSON value that PostgreSQL's jsonb can hold: every NUL character and
    every lone surrogate (which a JSON escape such as ``\\ud800`` can produce, and which no UTF-8
    text can encode) in keys and strings becomes U+FFFD. Keep the raw bytes elsewhere when the
    exact value matters."""
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, dict):
        return {json_storable(key): json_storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_storable(item) for item in value]
    return value
