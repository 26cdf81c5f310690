"""Request limits for every endpoint: body size, JSON nesting depth, and the recursion limit the
process runs with."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIRequestFactory

from gateway.common.limits import (
    SANE_RECURSION_LIMIT,
    JSONTooDeepError,
    json_depth_exceeds,
    json_loads_bounded,
    recursion_limit_restore,
    without_nul,
)
from gateway.common.parsers import BoundedJSONParser, JSONTooDeep, PayloadTooLarge
from gateway.common.problems import problem_exception_handler

ROOT = Path(__file__).resolve().parents[3]
DEEP = b"[" * 150_000 + b"]" * 150_000  # 300 KB of brackets

# JSON values whose strings may hold brackets, quotes and backslashes (which must not count).
_strings = st.text(alphabet='[]{}"\\ab\x00\u00e9', max_size=8)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _strings,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_strings, children, max_size=3),
    max_leaves=30)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@given(value=_values, limit=st.integers(min_value=0, max_value=8))
def test_depth_is_measured_exactly_without_parsing(value, limit):
    text = json.dumps(value, ensure_ascii=False)
    assert json_depth_exceeds(text, limit) is (_depth(value) > limit)
    assert json_depth_exceeds(text.encode(), limit) is (_depth(value) > limit)
    if _depth(value) <= limit:
        assert json_loads_bounded(text, max_depth=limit) == value
    else:
        with pytest.raises(JSONTooDeepError):
            json_loads_bounded(text, max_depth=limit)


@given(value=_values)
def test_without_nul_keeps_everything_else(value):
    cleaned = without_nul(value)
    assert "\x00" not in json.dumps(cleaned, ensure_ascii=False)
    assert json.dumps(cleaned, ensure_ascii=False) == json.dumps(
        value, ensure_ascii=False).replace("\\u0000", "\ufffd")


def test_brackets_inside_strings_and_unbalanced_text_do_not_fool_the_count():
    assert json_depth_exceeds('["[[[[[[", "\\"[[[["]', 1) is False
    assert json_depth_exceeds('[[["x"]]]', 2) is True
    assert json_depth_exceeds("]]]]]]]]" + "[[[", 3) is False
    assert json_depth_exceeds("]]]]]]]]" + "[[[[", 3) is True
    assert json_depth_exceeds(DEEP, 64) is True
    with pytest.raises(ValueError, match="NaN"):
        json_loads_bounded('{"a": NaN}')


# --- the middleware, on every endpoint ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/quotes", "/api/v1/transfers", "/admin/login/",
                                  "/agents/login/", "/callbacks/payouts/mpesa-ke/x/result",
                                  "/no/such/page"])
def test_a_deeply_nested_body_gets_400_anywhere(client, path):
    response = client.post(path, data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/json-too-deep"
    assert body["detail"] == "The body nests arrays or objects deeper than 64 levels."
    assert body["instance"] == path


def test_nesting_is_checked_whatever_the_content_type(client):
    response = client.post("/api/v1/quotes", data=DEEP, content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/json-too-deep"


def test_a_body_over_the_limit_gets_413_before_it_is_read(client, settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    response = client.post("/api/v1/quotes", data=b"{" + b" " * 1000 + b"}",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "type": "/problems/payload-too-large", "title": "Request body too large",
        "status": 413, "detail": "The body has 1002 bytes; at most 1000 are accepted.",
        "instance": "/api/v1/quotes"}
    # At the limit it goes on to the view (which wants an API key).
    response = client.post("/api/v1/quotes", data=b"{" + b" " * 998 + b"}",
                           content_type="application/json")
    assert response.status_code == 401


def test_multipart_uploads_have_their_own_bound(client, settings):
    settings.REQUEST_MAX_BODY_BYTES = 100
    settings.REQUEST_MAX_UPLOAD_BYTES = 5000
    upload = io.BytesIO(b"x" * 1000)
    upload.name = "evidence.txt"
    response = client.post("/admin/login/", data={"file": upload})
    assert response.status_code != 413
    upload = io.BytesIO(b"x" * 6000)
    upload.name = "evidence.txt"
    response = client.post("/admin/login/", data={"file": upload})
    assert response.status_code == 413


def test_a_malformed_content_length_gets_400(client):
    response = client.generic("POST", "/api/v1/quotes", data=b"{}",
                              content_type="application/json", CONTENT_LENGTH="12abc")
    assert response.status_code == 400
    assert response.json()["detail"] == "Content-Length is not a number."


# --- the DRF parser, for views reached without the middleware ----------------------------------


def test_the_parser_refuses_deep_and_large_bodies_with_problem_types(settings):
    parser = BoundedJSONParser()
    with pytest.raises(JSONTooDeep):
        parser.parse(io.BytesIO(DEEP), "application/json", {})
    settings.REQUEST_MAX_BODY_BYTES = 10
    with pytest.raises(PayloadTooLarge):
        parser.parse(io.BytesIO(b'{"a": "0123456789"}'), "application/json", {})
    settings.REQUEST_MAX_BODY_BYTES = 100
    assert parser.parse(io.BytesIO(b'{"a": [1, {"b": null}]}'), "application/json", {}) == {
        "a": [1, {"b": None}]}

    request = APIRequestFactory().post("/api/v1/quotes")
    for exc, slug, status in ((JSONTooDeep(), "json-too-deep", 400),
                              (PayloadTooLarge(), "payload-too-large", 413)):
        response = problem_exception_handler(exc, {"request": request})
        assert (response.status_code, response.data["type"]) == (status, f"/problems/{slug}")


# --- the recursion limit -----------------------------------------------------------------------


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_the_dependency_raises_the_limit_and_the_settings_put_it_back():
    raised = _python("import py_ecc, sys; print(sys.getrecursionlimit())")
    assert raised.stdout.strip() == "100000"  # the premise: py_ecc does this when imported
    restored = _python(
        "import django, sys; django.setup(); import py_ecc, web3; "
        "print(sys.getrecursionlimit())", DJANGO_SETTINGS_MODULE="tests.settings")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip().splitlines()[-1] == str(SANE_RECURSION_LIMIT)


def test_the_middleware_undoes_a_limit_raised_at_run_time(client):
    before = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(100_000)
        client.get("/no/such/page")
        assert sys.getrecursionlimit() == SANE_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)


def test_restore_lowers_only():
    before = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(500)
        assert recursion_limit_restore() == 500
        assert sys.getrecursionlimit() == 500
        sys.setrecursionlimit(50_000)
        assert recursion_limit_restore() == 50_000
        assert sys.getrecursionlimit() == SANE_RECURSION_LIMIT
    finally:
        sys.setrecursionlimit(before)


# --- callback secrets stay out of logs ---------------------------------------------------------


def test_callback_secrets_are_taken_out_of_log_lines(caplog):
    import logging

    from gateway.common.log_redaction import SecretPathFilter, redact

    path = "/callbacks/payouts/mpesa-ke/s3cr3t-Value_x/result"
    assert redact(f"POST {path} HTTP/1.1") == "POST /callbacks/payouts/mpesa-ke/***/result HTTP/1.1"
    assert redact("http://h:8000/callbacks/payouts/momo-ug/abc/timeout?x=1") == (
        "http://h:8000/callbacks/payouts/momo-ug/***/timeout?x=1")
    assert redact("/api/v1/transfers/abc/def") == "/api/v1/transfers/abc/def"
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "%s: %s",
                               ("Bad Request", path), None)
    assert SecretPathFilter().filter(record) is True
    assert record.getMessage() == "Bad Request: /callbacks/payouts/mpesa-ke/***/result"
