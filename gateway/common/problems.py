"""Domain errors and their RFC 9457 problem-details rendering.

Every expected failure raises ``DomainError`` (or a subclass) with a stable ``slug``; the API maps
it once, here, to ``application/problem+json`` with ``type`` = ``/problems/<slug>``.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from gateway.common.parsers import JSONTooDeep, PayloadTooLarge

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class DomainError(Exception):
    """An expected failure of a domain operation, shown to the client as problem details."""

    slug = "domain-error"
    title = "The request cannot be processed"
    status = 422

    def __init__(self, detail: str, *, slug: str | None = None, status: int | None = None,
                 title: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug:
            self.slug = slug
        if status:
            self.status = status
        if title:
            self.title = title
        self.extra = extra or {}


class NotFoundError(DomainError):
    slug = "not-found"
    title = "Not found"
    status = 404


class ConflictError(DomainError):
    slug = "conflict"
    title = "Conflict"
    status = 409


class InvalidTransitionError(DomainError):
    slug = "invalid-transition"
    title = "The transfer cannot move to that state"
    status = 409


def problem_body(*, slug: str, title: str, status: int, detail: str, instance: str = "",
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status,
                            "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(body: dict[str, Any]) -> Response:
    return Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)


# The first matching class wins: subclasses before their bases.
_DRF_SLUGS: dict[type[Exception], tuple[str, str]] = {
    PayloadTooLarge: ("payload-too-large", "Request body too large"),
    JSONTooDeep: ("json-too-deep", "JSON nested too deeply"),
    drf_exceptions.ParseError: ("malformed-request", "Malformed request body"),
    drf_exceptions.AuthenticationFailed: ("unauthenticated", "Authentication failed"),
    drf_exceptions.NotAuthenticated: ("unauthenticated", "Authentication required"),
    drf_exceptions.PermissionDenied: ("forbidden", "Not allowed"),
    drf_exceptions.NotFound: ("not-found", "Not found"),
    drf_exceptions.MethodNotAllowed: ("method-not-allowed", "Method not allowed"),
    drf_exceptions.NotAcceptable: ("not-acceptable", "Not acceptable"),
    drf_exceptions.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type"),
    drf_exceptions.Throttled: ("rate-limited", "Too many requests"),
    drf_exceptions.ValidationError: ("validation-error", "The request has invalid fields"),
}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error leaves as problem details."""
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, DomainError):
        return problem_response(problem_body(slug=exc.slug, title=exc.title, status=exc.status,
                                             detail=exc.detail, instance=instance, **exc.extra))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    slug, title = "error", "Error"
    for exc_type, names in _DRF_SLUGS.items():
        if isinstance(exc, exc_type):
            slug, title = names
            break
    if isinstance(exc, drf_exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = problem_body(slug=slug, title=title, status=response.status_code,
                            detail="One or more fields are missing or invalid.",
                            instance=instance, errors=errors)
    else:
        body = problem_body(slug=slug, title=title, status=response.status_code,
                            detail=str(getattr(exc, "detail", exc)), instance=instance)
    problem = problem_response(body)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem


def json_problem_view(status: int, slug: str, title: str):
    """Plain Django views for 404/500 under /api/, so even those answer in problem details."""

    def view(request, exception=None):
        body = problem_body(slug=slug, title=title, status=status, detail=title,
                            instance=request.path)
        return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)

    return view
