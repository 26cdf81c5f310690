"""Amount strings are strict: ASCII digits, at most the asset's decimals, never a 500."""

import json
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from gateway.common.money import parse_amount
from gateway.transfers.models import Quote
from ramps.liquidity.models import LiquidityReservation
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor

STRICT = re.compile(r"[0-9]{1,30}(\.[0-9]{1,30})?")


@pytest.fixture
def client(db):
    make_corridor()
    _, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def quote(client, amount):
    return client.post("/api/v1/quotes", data=json.dumps(
        {"sell_asset": "USDC:anvil", "sell_amount": amount, "buy_currency": "KES"}),
        content_type="application/json")


@pytest.mark.parametrize("amount", [
    "1E+3", "1e3", "1e22", "1E+22", "\u0661\u0660\u0660",  # Arabic-Indic 100
    "\uff11\uff10\uff10",  # full-width 100
    "\u0967\u0966\u0966",  # Devanagari 100
    " 100", "100 ", "100\n", "\t100", "+100", "-100", "1,000", "1_000", "100.", ".5",
    "0x64", "Infinity", "NaN", "100.0000001", "100.1000000", "",
    "1" + "0" * 22, "9" * 30, "1" * 31, "1" + "0" * 40,
])
def test_every_non_strict_or_oversized_amount_is_a_422_problem_and_reserves_nothing(client,
                                                                                   amount):
    response = quote(client, amount)
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] in ("/problems/invalid-amount", "/problems/validation-error")
    assert body["status"] == response.status_code
    assert Quote.objects.count() == 0
    assert LiquidityReservation.objects.count() == 0


@pytest.mark.parametrize("amount", ["1E+3", "\u0661\u0660\u0660", " 100", "1" + "0" * 22])
def test_the_problem_says_why_in_words(client, amount):
    body = quote(client, amount).json()
    assert body["type"] == "/problems/invalid-amount"
    assert ("ASCII digits" in body["detail"] or "between" in body["detail"]
            or "too large" in body["detail"])


@given(st.text(max_size=40) | st.from_regex(STRICT, fullmatch=True))
def test_any_text_is_either_a_strict_amount_or_refused_with_value_error(text):
    acceptable = bool(STRICT.fullmatch(text)) and len(text.partition(".")[2]) <= 6 and (
        Decimal(text).adjusted() <= 24)
    if acceptable:
        assert parse_amount(text, "USDC") == Decimal(text)
    else:
        with pytest.raises(ValueError, match=r"decimal amount|too large|decimal places"):
            parse_amount(text, "USDC")


@given(units=st.integers(min_value=0, max_value=10**24 - 1),
       places=st.integers(min_value=0, max_value=6),
       currency=st.sampled_from(["USDC", "DAI", "KES", "UGX", "BHD"]))
def test_amounts_within_the_currencys_decimals_parse_exactly(units, places, currency):
    from gateway.common.money import currency_exponent

    text = str(units) if places == 0 else f"{units // 10**places}.{units % 10**places:0{places}d}"
    if places > currency_exponent(currency):
        with pytest.raises(ValueError, match="decimal places"):
            parse_amount(text, currency)
    else:
        assert parse_amount(text, currency) == Decimal(units).scaleb(-places)


@pytest.mark.parametrize(("value", "currency", "refusal"), [
    (Decimal("1E+22"), "USDC", ""),
    (Decimal("1E+22"), "DAI", ""),
    (Decimal("1E+30"), "DAI", "too large"),
    (10**30, "USDC", "too large"),
    (Decimal("12345678901234567890123.000000000000000001"), "DAI", ""),
    (Decimal("12345678901234567890123.000000000000000001"), "USDC", "decimal places"),
])
def test_huge_values_never_raise_invalid_operation(value, currency, refusal):
    # Rounding 1e22 to 18 places needs 41 digits, more than Decimal's default 28: the check
    # counts places instead of rounding.
    if refusal:
        with pytest.raises(ValueError, match=refusal):
            parse_amount(value, currency)
    else:
        assert parse_amount(value, currency) == Decimal(value)
