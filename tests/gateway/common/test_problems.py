"""Every error of the API leaves as RFC 9457 problem details (gateway.common.problems), with a
stable type per error and the headers a client needs to recover."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from gateway.common.problems import (
    PROBLEM_CONTENT_TYPE,
    ConflictError,
    DomainError,
    NotFoundError,
    json_problem_view,
    problem_exception_handler,
)

REQUEST = APIRequestFactory().post("/api/v1/transfers")


def handled(exc):
    return problem_exception_handler(exc, {"request": REQUEST})


def test_a_domain_error_keeps_its_slug_status_and_extra_fields():
    response = handled(DomainError("Quote expired.", slug="quote-expired", status=410,
                                   extra={"quote_id": "q-1"}))

    assert response.status_code == 410
    assert response.content_type == PROBLEM_CONTENT_TYPE
    assert response.data == {"type": "/problems/quote-expired", "title":
                             "The request cannot be processed", "status": 410,
                             "detail": "Quote expired.", "instance": "/api/v1/transfers",
                             "quote_id": "q-1"}


@pytest.mark.parametrize(("exc", "status", "slug"), [
    (NotFoundError("No such transfer."), 404, "not-found"),
    (ConflictError("Already cancelled."), 409, "conflict"),
    (Http404(), 404, "not-found"),
    (PermissionDenied(), 403, "forbidden"),
    (exceptions.NotAuthenticated(), 401, "unauthenticated"),
    (exceptions.ParseError(), 400, "malformed-request"),
    (exceptions.MethodNotAllowed("DELETE"), 405, "method-not-allowed"),
    (exceptions.UnsupportedMediaType("text/csv"), 415, "unsupported-media-type"),
    (exceptions.Throttled(wait=30), 429, "rate-limited"),
])
def test_each_error_has_its_stable_type(exc, status, slug):
    response = handled(exc)

    assert (response.status_code, response.data["type"], response.data["status"]) == (
        status, f"/problems/{slug}", status)


def test_invalid_fields_are_listed_by_name():
    response = handled(exceptions.ValidationError({"amount_in": ["Required."]}))

    assert response.data["errors"] == {"amount_in": ["Required."]}
    assert response.data["detail"] == "One or more fields are missing or invalid."
    listed = handled(exceptions.ValidationError(["Pick one rail."]))
    assert listed.data["errors"] == {"non_field_errors": ["Pick one rail."]}


def test_a_client_told_to_slow_down_is_told_when_to_come_back():
    assert handled(exceptions.Throttled(wait=30))["Retry-After"] == "30"


def test_an_unexpected_exception_is_left_to_the_server_error_page():
    assert handled(RuntimeError("bug")) is None


def test_the_api_404_and_500_pages_are_problem_details():
    response = json_problem_view(500, "server-error", "Server error")(
        APIRequestFactory().get("/api/v1/transfers/x"))

    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert b'"type": "/problems/server-error"' in response.content
