"""GET /api/v1/info and GET /api/v1/prices (indicative, nothing reserved, cached book)."""

import json
from decimal import Decimal

import pytest
import requests
from django.core.cache import cache
from rest_framework.test import APIClient

from compliance.kyc.models import KycTier
from gateway.transfers.models import PartnerPricing, Quote
from ramps.liquidity.models import LiquidityReservation
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor
from tests.gateway.transfers.test_api import fund_rail_float
from tests.ramps.chain.factories import make_chain

PROBLEM = "application/problem+json"


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


# --- info -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "cap", "lifetime"), [(300, 120, 120), (90, 120, 90)])
def test_info_gives_the_quote_lifetime_quotes_really_get(db, settings, exchange_venue, ttl, cap,
                                                         lifetime):
    """QUOTE_TTL_SECONDS is cut to the venue depth's hold (LIQUIDITY_FIRM_QUOTE_MAX_SECONDS):
    /info says what a quote's expires_at will be, not the longer setting."""
    from datetime import datetime

    settings.QUOTE_TTL_SECONDS, settings.LIQUIDITY_FIRM_QUOTE_MAX_SECONDS = ttl, cap
    _partner, key = make_partner()
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    client = client_for(key)

    assert client.get("/api/v1/info").json()["quote_lifetime_seconds"] == lifetime
    quote = client.post("/api/v1/quotes", {"sell_asset": "USDC:anvil", "sell_amount": "50.00",
                                           "buy_currency": "KES"}, format="json").json()
    created = Quote.objects.get(public_id=quote["id"]).created_at
    held = datetime.fromisoformat(quote["expires_at"].replace("Z", "+00:00")) - created
    assert abs(held.total_seconds() - lifetime) < 5


def test_info_lists_open_corridors_with_the_partners_own_fees(db, settings):
    settings.QUOTE_TTL_SECONDS = 100  # under the liquidity cap (120 s), which would cut it
    settings.TRAVEL_RULE_THRESHOLD_USD = "1000"
    partner, key = make_partner()
    corridor = make_corridor()
    make_corridor(chain=make_chain(caip2="eip155:1", name="eth", chain_id=1), is_active=False)
    withdrawn = make_corridor(chain=make_chain(caip2="eip155:10", name="op", chain_id=10))
    withdrawn.token.is_accepted = False  # watched for refunds, never quoted
    withdrawn.token.save()
    PartnerPricing.objects.create(partner=partner, corridor=corridor, fee_rate=Decimal("0.002"))
    KycTier.objects.create(code="basic", name="Basic", level=1,
                           natural_person_fields=["first_name", "last_name"],
                           limit_per_transfer_usd=Decimal("500"))
    body = client_for(key).get("/api/v1/info").json()
    assert body["quote_lifetime_seconds"] == 100
    assert body["travel_rule_threshold_usd"] == "1000"
    assert [c["code"] for c in body["corridors"]] == [corridor.code]
    shown = body["corridors"][0]
    assert shown["asset"] == {"id": corridor.token.caip19, "alias": "USDC:anvil",
                              "chain": "eip155:31337", "symbol": "USDC"}
    assert shown["amount_out_currency"] == "KES"
    assert shown["country"] == "KE"
    assert shown["payout_methods"] == ["mobile_money"]
    assert (shown["min_amount_in"], shown["max_amount_in"]) == ("1.000000", "10000.000000")
    assert (shown["fee_fixed"], shown["fee_rate"], shown["margin_rate"]) == (
        "0.500000", "0.002000", "0.004000")
    assert shown["recipient_fields"]["required"] == ["name", "phone_number"]
    assert body["kyc_tiers"] == [{
        "code": "basic", "name": "Basic", "level": 1,
        "natural_person_fields": ["first_name", "last_name"], "business_fields": [],
        "limit_per_transfer_usd": "500.00", "limit_per_day_usd": None,
        "limit_per_30_days_usd": None}]
    # Another partner sees the corridor's own fee.
    _, other_key = make_partner()
    assert client_for(other_key).get("/api/v1/info").json()["corridors"][0]["fee_rate"] == (
        "0.005000")
    assert_problem(APIClient().get("/api/v1/info"), 401, "unauthenticated")


# --- prices ---------------------------------------------------------------------------------


@pytest.fixture
def priced(exchange_venue):
    cache.clear()
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    _, key = make_partner()
    yield corridor, client_for(key)
    cache.clear()


def test_an_indicative_price_is_what_the_firm_quote_gives_and_holds_nothing(priced):
    _, client = priced
    response = client.get("/api/v1/prices?amount_in_asset=USDC:anvil&amount_in=100.00"
                          "&amount_out_currency=KES")
    assert response.status_code == 200, response.content
    price = response.json()
    assert price["indicative"] is True
    assert price["amount_in"] == "100.000000"
    assert price["amount_fee"] == "1.000000"
    assert price["fee"]["fixed"] == "0.500000"
    assert "venue" not in json.dumps(price)
    assert Quote.objects.count() == 0
    assert LiquidityReservation.objects.count() == 0
    quote = client.post("/api/v1/quotes", data=json.dumps(
        {"amount_in_asset": "USDC:anvil", "amount_in": "100.00", "amount_out_currency": "KES"}),
        content_type="application/json").json()
    assert (price["amount_out"], price["rate"]) == (quote["amount_out"], quote["rate"])
    # The old SEP-38 names work the same.
    legacy = client.get("/api/v1/prices?sell_asset=USDC:anvil&sell_amount=100.00"
                        "&buy_currency=KES").json()
    assert legacy["amount_in"] == "100.000000"


def test_a_price_for_an_amount_out_pays_at_least_that(priced):
    _, client = priced
    price = client.get("/api/v1/prices?amount_in_asset=USDC:anvil&amount_out=5000"
                       "&amount_out_currency=KES").json()
    assert Decimal(price["amount_out"]) >= Decimal("5000")
    assert Decimal(price["amount_out"]) < Decimal("5000") + 2 * Decimal(price["rate"])
    forward = client.get(f"/api/v1/prices?amount_in_asset=USDC:anvil&amount_in="
                         f"{price['amount_in']}&amount_out_currency=KES").json()
    assert forward["amount_out"] == price["amount_out"]


def test_an_amount_out_beyond_the_corridor_is_422_not_a_500(priced):
    _, client = priced
    for amount in ("9" * 24, "10000000"):
        body = assert_problem(client.get(
            f"/api/v1/prices?amount_in_asset=USDC:anvil&amount_out={amount}"
            "&amount_out_currency=KES"), 422, "invalid-amount")
        assert "largest amount_in of 10000.000000 USDC" in body["detail"]


def test_the_book_is_read_at_most_every_few_seconds(priced, exchange_sandbox):
    _, client = priced
    url = "/api/v1/prices?amount_in_asset=USDC:anvil&amount_in=50&amount_out_currency=KES"
    first = client.get(url).json()
    control = requests.post(f"{exchange_sandbox.base_url}/_sandbox/control",
                            json={"action": "freeze_book", "pair": "USDCKES",
                                  "age_seconds": 3600}, timeout=5)
    assert control.status_code == 200
    # Within the cache time the stale book is not read again; after it, staleness is refused.
    assert client.get(url).json() == first
    cache.clear()
    assert_problem(client.get(url), 503, "quote-unavailable")


@pytest.mark.parametrize(("query", "status", "slug"), [
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES", 400, "validation-error"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES&amount_in=1&amount_out=1", 400,
     "validation-error"),
    ("amount_in=100&amount_out_currency=KES", 400, "validation-error"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES&amount_in=1E%2B3", 422,
     "invalid-amount"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES&amount_in=%20100", 422,
     "invalid-amount"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES&amount_in=" + "9" * 30, 422,
     "invalid-amount"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=KES&amount_in=0", 422, "invalid-amount"),
    ("amount_in_asset=USDC:anvil&amount_out_currency=UGX&amount_in=100", 422,
     "unknown-corridor"),
])
def test_bad_price_queries_are_problems(db, query, status, slug):
    make_corridor()
    _, key = make_partner()
    assert_problem(client_for(key).get(f"/api/v1/prices?{query}"), status, slug)
    assert LiquidityReservation.objects.count() == 0
