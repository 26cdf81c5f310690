"""Money (gateway.common.money): exact conversion at the chain boundary, one rounding helper
that knows each currency's exponent, strict parsing of the API's decimal strings."""

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.money import (
    Money,
    UnknownCurrencyError,
    currency_exponent,
    from_base_units,
    is_fiat,
    money_round,
    money_round_down,
    parse_amount,
    rate_round,
    to_base_units,
)

CURRENCIES = {"KES": 2, "UGX": 0, "BHD": 3, "GHS": 2, "USDC": 6, "USDT": 6, "DAI": 18}
amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=20,
                      allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("code", "exponent"), CURRENCIES.items())
def test_each_currency_has_its_exponent(code, exponent):
    assert currency_exponent(code) == exponent
    assert is_fiat(code) == (code in {"KES", "UGX", "BHD", "GHS"})


@pytest.mark.parametrize("code", ["", "kes", "XYZ1", "BTC"])
def test_an_unknown_code_is_refused(code):
    with pytest.raises(UnknownCurrencyError):
        currency_exponent(code)
    with pytest.raises(UnknownCurrencyError):
        Money(Decimal("1"), code)


@settings(derandomize=True)
@given(units=st.one_of(st.integers(0, 2**256 - 1), st.integers(10**28, 10**28 + 10**6)),
       decimals=st.integers(0, 36))
def test_base_units_convert_exactly_both_ways(units, decimals):
    # any uint256, beyond the 28 digits Decimal's default context keeps
    amount = from_base_units(units, decimals)

    assert to_base_units(amount, decimals) == units
    assert amount == Decimal((0, tuple(int(digit) for digit in str(units)), -decimals))


def test_an_amount_finer_than_one_base_unit_or_a_float_is_refused():
    with pytest.raises(ValueError, match="finer than the token's 6 decimals"):
        to_base_units(Decimal("0.0000001"), 6)
    with pytest.raises(TypeError):
        from_base_units(1.5, 6)  # type: ignore[arg-type]


@settings(derandomize=True)
@given(amount=amounts, code=st.sampled_from(sorted(CURRENCIES)))
def test_rounding_keeps_the_currency_exponent_and_moves_at_most_half_a_unit(amount, code):
    rounded = money_round(amount, code)
    unit = Decimal(1).scaleb(-CURRENCIES[code])

    assert rounded.as_tuple().exponent == -CURRENCIES[code]
    assert abs(rounded - amount) <= unit / 2
    assert money_round(rounded, code) == rounded


@settings(derandomize=True)
@given(amount=amounts.filter(lambda value: value >= 0), exponent=st.integers(0, 2))
def test_rounding_down_never_pays_more_than_was_covered(amount, exponent):
    assert money_round_down(amount, "KES") <= amount
    narrowed = money_round_down(amount, "KES", exponent=exponent)
    assert narrowed <= amount
    assert narrowed.as_tuple().exponent == -exponent
    assert amount - narrowed < Decimal(1).scaleb(-exponent)


def test_rounding_is_half_even_and_never_of_a_float():
    assert money_round(Decimal("10.125"), "KES") == Decimal("10.12")
    assert money_round(Decimal("10.135"), "KES") == Decimal("10.14")
    assert money_round(Decimal("2.5"), "UGX", ROUND_HALF_EVEN) == Decimal("2")
    with pytest.raises(TypeError):
        money_round(10.125, "KES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be paid with 3 decimal places"):
        money_round_down(Decimal("1"), "KES", exponent=3)


@settings(derandomize=True)
@given(units=st.integers(min_value=0, max_value=10**20), code=st.sampled_from(sorted(CURRENCIES)))
def test_any_amount_written_with_the_currency_places_parses_to_itself(units, code):
    amount = from_base_units(units, CURRENCIES[code])

    assert parse_amount(f"{amount:f}", code) == amount


@pytest.mark.parametrize("text", [
    "1E+3", " 100", "100 ", "-1", "+1", "1,000", "1.", ".5", "", "NaN", "Infinity",
    "\u0661\u0660\u0660", "\uff11\uff10\uff10", "1" * 31, "10.001", "10.100"])
def test_anything_but_plain_digits_with_the_currency_places_is_refused(text):
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the sender's, tested below
        parse_amount(text, "KES")


def test_a_refusal_says_what_an_amount_looks_like():
    with pytest.raises(ValueError, match=r'e\.g\. "100\.50"'):
        parse_amount("1E+3", "KES")
    with pytest.raises(ValueError, match=r"more decimal places than KES allows \(2\)"):
        parse_amount("1.001", "KES")
    with pytest.raises(ValueError, match="too large"):
        parse_amount(Decimal("1e25"), "KES")
    with pytest.raises(TypeError):
        parse_amount(1.5, "KES")  # type: ignore[arg-type]
    assert parse_amount(100, "UGX") == Decimal(100)


def test_money_is_shown_rounded_with_its_code_and_rates_are_rounded_down():
    assert str(Money(Decimal("12700.005"), "KES")) == "12700.00 KES"
    assert Money(Decimal("1.5"), "UGX").rounded() == Money(Decimal("2"), "UGX")
    with pytest.raises(TypeError):
        Money(1.5, "KES")  # type: ignore[arg-type]
    assert rate_round(Decimal("128.2828282828289")) == Decimal("128.282828282828")
