"""Control characters are refused at the boundary, before any view, form or serializer runs.

PostgreSQL cannot store NUL (U+0000) in text or jsonb, and a lone surrogate (U+D800-U+DFFF)
cannot be encoded for it at all, so either one reaching a query is a 500 and a lost request.
The other control characters (C0, DEL, C1) have no business in a name, a reference, an address,
a key or a query parameter either: they hide text on screens and in logs. So every request gets
one check, here:

* the path, every query parameter (name and value) and every request header: no control
  character at all;
* a JSON or form body: no control character in any string or object key, except TAB, LF and
  CR, which free text (an address, a note) may hold.

A refused request gets a 400 ``application/problem+json`` of type ``/problems/control-character``
that names where the character was (a JSON pointer into the body, the parameter or the header)
and which one, and nothing else happens. Provider callbacks (``/callbacks/``) are exempt for
their body: those are stored as received, byte for byte, for an operator to read.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from gateway.common.problems import PROBLEM_CONTENT_TYPE, problem_body

# Free text may span lines and hold tabs; nothing else below U+0020 (or DEL, or C1) is text.
TEXT_WHITESPACE = frozenset("\t\n\r")
# Paths whose body is stored as received instead of being parsed by the gateway.
RAW_BODY_PREFIXES = ("/callbacks/",)
# A cheap look at the raw body first: a JSON string can carry a control character only as an
# escape (\u0000, \b, \f: JSON forbids them raw inside strings), or as a raw C1 character
# in UTF-8 (0xC2 0x80-0x9F).
_JSON_SUSPECT_MARKERS = (b"\\", b"\xc2")


def _forbidden(character: str, *, allow_whitespace: bool) -> bool:
    if allow_whitespace and character in TEXT_WHITESPACE:
        return False
    return unicodedata.category(character) in ("Cc", "Cs")


def control_character_in(text: str, *, allow_whitespace: bool = False) -> str | None:
    """The first control character (or lone surrogate) in ``text``, or None."""
    if text.isprintable():  # fast path: most text is printable throughout
        return None
    return next((character for character in text
                 if _forbidden(character, allow_whitespace=allow_whitespace)), None)


def _pointer_part(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _json_strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, text) for every object key and string in a parsed JSON value, iteratively
    (the middleware in front has bounded the depth, but a walk needs no recursion anyway)."""
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                child_pointer = f"{where}/{_pointer_part(key)}"
                yield child_pointer, str(key)
                stack.append((child_pointer, child))
        elif isinstance(item, list):
            stack.extend((f"{where}/{index}", child) for index, child in enumerate(item))


def visible(text: str) -> str:
    """``text`` with every control character written as its escape, safe to show and log."""
    return "".join(f"\\u{ord(character):04x}" if _forbidden(character, allow_whitespace=False)
                   else character for character in text)


def _describe(character: str) -> str:
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" ({name})" if name else "")


class ControlCharacterError(ValueError):
    def __init__(self, where: str, character: str) -> None:
        super().__init__(f"{visible(where)} contains the control character "
                         f"{_describe(character)}")
        self.where = where
        self.character = character


def _check(where: str, text: str, *, allow_whitespace: bool) -> None:
    found = control_character_in(text, allow_whitespace=allow_whitespace)
    if found is not None:
        raise ControlCharacterError(where, found)


def _check_body(request: HttpRequest) -> None:
    content_type = (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Parsed once by Django and kept on the request for the view (uploaded files are
        # bytes and not looked at); the CSRF check reads the same.
        for name, values in request.POST.lists():
            _check(f"form field {name!r}", name, allow_whitespace=False)
            for value in values:
                _check(f"form field {name!r}", value, allow_whitespace=True)
        return
    if content_type.startswith("multipart/"):
        return
    body = request.body
    if not body:
        return
    stripped = body.lstrip(b" \t\r\n")
    if stripped[:1] not in (b"{", b"[", b'"'):
        return  # not JSON: the parser refuses it with its own 400
    if not any(marker in body for marker in _JSON_SUSPECT_MARKERS):
        return
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return  # malformed or too deep: the limits middleware and the parser answer that
    for pointer, text in _json_strings(parsed):
        _check(f"body field {pointer or '/'}", text, allow_whitespace=True)


def request_control_character(request: HttpRequest) -> ControlCharacterError | None:
    """Where ``request`` carries a control character it must not, or None."""
    try:
        _check("the path", request.path, allow_whitespace=False)
        for name, values in request.GET.lists():
            _check(f"query parameter {name!r}", name, allow_whitespace=False)
            for value in values:
                _check(f"query parameter {name!r}", value, allow_whitespace=False)
        for key, value in request.META.items():
            if key.startswith("HTTP_") and isinstance(value, str):
                # WSGI hands header bytes over as latin-1: read them as the UTF-8 they are,
                # so that a multi-byte character is not mistaken for C1 controls.
                text = value.encode("latin-1", "replace").decode("utf-8", "replace")
                header = key[5:].replace("_", "-").title()
                _check(f"header {header}", text, allow_whitespace=False)
        if not request.path.startswith(RAW_BODY_PREFIXES):
            _check_body(request)
    except ControlCharacterError as found:
        return found
    return None


class ControlCharacterMiddleware:
    """Refuses a request holding a control character (see the module docstring) with a 400
    problem before any view runs. Placed after ``RequestLimitsMiddleware``, so the body it
    reads is already bounded in size and depth."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = request_control_character(request)
        if found is None:
            return self.get_response(request)
        body = problem_body(
            slug="control-character", title="Control character in the request", status=400,
            detail=(f"{found}. Control characters (and lone surrogates) are not accepted; "
                    "TAB, LF and CR only inside body text."),
            instance=visible(request.path),
            location=visible(found.where), character=f"U+{ord(found.character):04X}")
        return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
