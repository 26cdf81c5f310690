"""What an operator types for a movement of money: a positive exact amount, a one-word reference."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.common.movements import movement_amount, movement_reference
from gateway.common.problems import DomainError


@given(cents=st.integers(min_value=1, max_value=10**15))
def test_any_positive_amount_in_cents_is_taken_exactly(cents):
    text = f"{Decimal(cents) / 100:.2f}"
    assert movement_amount(text, "KES") == Decimal(text)


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc", "", "NaN", "Infinity"])
def test_a_bad_amount_is_a_422_that_says_so(amount):
    with pytest.raises(DomainError) as refused:
        movement_amount(amount, "KES")
    assert (refused.value.slug, refused.value.status) == ("invalid-amount", 422)


@pytest.mark.parametrize("reference", ["", "   ", "two words", "x" * 65, "tab\there"])
def test_a_bad_reference_is_a_422_naming_what_it_refers_to(reference):
    with pytest.raises(DomainError, match="reference of the wire") as refused:
        movement_reference(reference, of="the wire")
    assert refused.value.status == 422


def test_a_reference_is_kept_without_its_surrounding_spaces():
    assert movement_reference("  BANK-7781 ") == "BANK-7781"
