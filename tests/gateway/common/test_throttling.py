"""Per-partner rate limits: RateLimit-* headers on every answer, 429 with Retry-After past it."""

import json
import math

import pytest
from django.core.cache import cache
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from gateway.common import throttling
from gateway.transfers.models import Quote
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor

PROBLEM = "application/problem+json"
# A fixed instant 17 seconds into a minute: windows start on multiples of the window length.
NOW = 1_800_000_017.25


@pytest.fixture
def frozen_clock(monkeypatch):
    instant = {"now": NOW}
    monkeypatch.setattr(throttling, "clock", lambda: instant["now"])
    return instant


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def limits(response) -> tuple[str, str, str]:
    return (response["RateLimit-Limit"], response["RateLimit-Remaining"],
            response["RateLimit-Reset"])


def test_every_answer_to_a_partner_carries_the_rate_limit_headers(db, settings, frozen_clock):
    settings.API_RATE_LIMIT_PER_MINUTE = 5
    _partner, key = make_partner()
    client = client_for(key)
    ok = client.get("/api/v1/info")
    assert ok.status_code == 200
    assert limits(ok) == ("5", "4", "43")  # 60 - 17.25, rounded up
    invalid = client.post("/api/v1/quotes", data="{}", content_type="application/json")
    assert invalid.status_code == 400
    assert limits(invalid) == ("5", "3", "43")
    missing = client.get("/api/v1/transfers/no-such-transfer")
    assert missing.status_code == 404
    assert limits(missing) == ("5", "2", "43")
    frozen_clock["now"] = NOW + 40
    assert limits(client.get("/api/v1/transfers")) == ("5", "1", "3")


def test_an_answer_without_a_valid_key_is_not_counted_and_has_no_headers(db, frozen_clock):
    response = APIClient().get("/api/v1/info")
    assert response.status_code == 401
    assert "RateLimit-Limit" not in response
    assert "Retry-After" not in response


def test_past_the_limit_the_answer_is_429_problem_with_retry_after_and_nothing_runs(
        db, settings, frozen_clock):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    make_corridor()
    _partner, key = make_partner()
    client = client_for(key)
    assert client.get("/api/v1/info").status_code == 200
    assert client.get("/api/v1/info").status_code == 200
    refused = client.post("/api/v1/quotes", data=json.dumps(
        {"amount_in_asset": "USDC", "amount_in": "100", "amount_out_currency": "KES"}),
        content_type="application/json")
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["type"] == "/problems/rate-limited"
    assert refused.json()["status"] == 429
    assert refused["Retry-After"] == "43"
    assert limits(refused) == ("2", "0", "43")
    assert not Quote.objects.exists()

    # The next window starts afresh.
    frozen_clock["now"] = NOW + 43
    again = client.get("/api/v1/info")
    assert again.status_code == 200
    assert limits(again) == ("2", "1", "60")


def test_each_partner_has_its_own_count_and_may_have_its_own_limit(db, settings, frozen_clock):
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    generous, generous_key = make_partner()
    generous.api_requests_per_minute = 3
    generous.save()
    _, strict_key = make_partner()
    generous_client, strict_client = client_for(generous_key), client_for(strict_key)
    assert strict_client.get("/api/v1/info").status_code == 200
    assert strict_client.get("/api/v1/info").status_code == 429
    answers = [generous_client.get("/api/v1/info") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a["RateLimit-Limit"] for a in answers} == {"3"}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(limit=st.integers(min_value=0, max_value=20), requests=st.integers(min_value=1,
                                                                         max_value=30),
       offset=st.floats(min_value=0, max_value=59.999, allow_nan=False))
def test_the_count_follows_the_requests_within_a_window(limit, requests, offset):
    class Partner:
        public_id = f"hypothesis-{limit}-{requests}-{offset}"
        api_requests_per_minute = limit

    cache.clear()
    original = throttling.clock
    throttling.clock = lambda: 1_800_000_000 + offset  # a window starts at 1_800_000_000
    try:
        states = [throttling.rate_limit_count(partner=Partner()) for _ in range(requests)]
    finally:
        throttling.clock = original
    for number, state in enumerate(states, start=1):
        assert state.limit == limit
        assert state.exceeded == (number > limit)
        assert state.headers()["RateLimit-Remaining"] == str(max(limit - number, 0))
        assert 1 <= state.reset_seconds <= 60
        assert state.reset_seconds == max(1, math.ceil(1_800_000_060 - (1_800_000_000 + offset)))


def test_the_schema_documents_the_headers_and_the_429_answer(db):
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    operations = [operation for path in schema["paths"].values()
                  for operation in path.values()
                  if isinstance(operation, dict) and any(
                      "PartnerApiKey" in requirement
                      for requirement in operation.get("security", []))]
    assert len(operations) > 20
    for operation in operations:
        responses = operation["responses"]
        assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
        assert responses["429"]["content"]["application/problem+json"]["schema"]["$ref"] == (
            "#/components/schemas/Problem")
        for code, response in responses.items():
            headers = set(response.get("headers", {}))
            if code == "401":
                assert not headers & set(throttling.HEADERS)
            else:
                assert set(throttling.HEADERS) <= headers, (operation["operationId"], code)
