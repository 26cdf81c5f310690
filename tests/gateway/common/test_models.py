"""The shared money column types (gateway.common.models) keep every digit on PostgreSQL: fiat
and asset amounts as exact decimals to 18 places, on-chain amounts as integers up to uint256;
a float or a value out of range is refused before it reaches the database."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.models import MoneyField, TokenAmountField
from ramps.chain.models import Deposit
from ramps.payouts.models import Rail
from tests.ramps.chain.factories import make_chain, make_deposit, make_token
from tests.ramps.payouts.factories import make_rail

pytestmark = pytest.mark.django_db

LARGEST_MONEY = Decimal("9" * 22 + "." + "9" * 18)


@settings(derandomize=True, max_examples=40, deadline=None)  # one row per example
@given(amount=st.decimals(min_value=0, max_value=LARGEST_MONEY, places=18))
def test_a_money_amount_comes_back_from_postgresql_to_the_last_place(amount):
    rail = make_rail(min_amount=amount, max_amount=LARGEST_MONEY)

    stored = Rail.objects.get(pk=rail.pk)

    assert (stored.min_amount, stored.max_amount) == (amount, LARGEST_MONEY)
    assert isinstance(stored.min_amount, Decimal)


@pytest.mark.parametrize("amount", [0, 1, 10**28 + 1, 2**256 - 1])
def test_a_token_amount_comes_back_from_postgresql_as_the_same_int(amount):
    deposit = make_deposit(token=make_token(chain=make_chain()), amount=amount)

    stored = Deposit.objects.get(pk=deposit.pk)

    assert stored.amount == amount
    assert type(stored.amount) is int


@pytest.mark.parametrize(("value", "error"), [
    (-1, ValueError), (2**256, ValueError), (1.0, TypeError)])
def test_a_token_amount_out_of_uint256_or_a_float_is_refused(value, error):
    with pytest.raises(error):
        TokenAmountField().get_prep_value(value)


@pytest.mark.parametrize(("value", "message"), [
    (1.5, "never floats"), ("ten", "not a decimal amount")])
def test_a_money_amount_that_is_a_float_or_not_a_number_is_refused(value, message):
    with pytest.raises(ValidationError, match=message):
        MoneyField().to_python(value)
    assert MoneyField().to_python(" 12.50 ") == Decimal("12.50")
