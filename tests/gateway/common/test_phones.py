"""Phone numbers (gateway.common.phones): one parser states what a number is (E.164, country,
mobile or not, the operator of its prefix); anything else is a PhoneNumberError a sender can
read, never another exception."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.phones import PhoneNumberError, phone_e164, phone_parse


@pytest.mark.parametrize(("text", "e164", "region", "type_name", "operator", "mobile"), [
    ("+254708374149", "+254708374149", "KE", "mobile", "Safaricom", True),
    ("+256 772 123456", "+256772123456", "UG", "mobile", "MTN", True),
    ("+233241234567", "+233241234567", "GH", "mobile", "MTN", True),
    ("+1 201 555 0123", "+12015550123", "US", "fixed_line_or_mobile", "", True),
    ("+254201234567", "+254201234567", "KE", "fixed_line", "", False),
])
def test_a_number_is_known_by_its_e164_form_country_type_and_operator(
        text, e164, region, type_name, operator, mobile):
    phone = phone_parse(text)

    assert (phone.e164, phone.region, phone.type_name, phone.operator, phone.is_mobile) == (
        e164, region, type_name, operator, mobile)


def test_a_national_number_needs_its_country():
    assert phone_e164("0708 374 149", default_region="ke") == "+254708374149"
    with pytest.raises(PhoneNumberError, match=r"international phone number \(\+<country code>"):
        phone_parse("0708374149")


@pytest.mark.parametrize(("value", "message"), [
    ("", "required"), (None, "required"), ("   ", "required"),
    ("+" + "1" * 40, "at most 32 characters"),
    ("+254123", "not a valid phone number"), ("+254008374149", "not a valid phone number"),
    ("+999123456789", "Could not interpret numbers after plus-sign"),
    ("call me", "not an international phone number")])
def test_what_is_not_a_number_says_why(value, message):
    with pytest.raises(PhoneNumberError, match=message):
        phone_parse(value)


@settings(derandomize=True, max_examples=300)
@given(text=st.text(max_size=40), region=st.sampled_from([None, "KE", "UG", "xx", ""]))
def test_any_text_is_a_number_or_a_phone_number_error(text, region):
    try:
        phone = phone_parse(text, default_region=region)
    except PhoneNumberError:
        return
    assert phone.e164.startswith("+")
    assert phone_parse(phone.e164) == phone
