"""Phone numbers: the one place that parses them (with ``phonenumbers``, Google's libphonenumber
metadata), so that the API, KYC and the payout rails agree on what a number is.

A parsed number knows its E.164 form, its country, its type (mobile, fixed line, or "fixed line
or mobile" where the numbering plan cannot tell) and the network operator that holds its prefix.
What a given payout accepts (only mobiles, only one operator's lines) is decided by the caller's
rules (``ramps.payouts.rails``); this module only states facts about the number.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

# Types that can hold a mobile-money wallet or receive an SMS. Some numbering plans (the United
# States, parts of West Africa) cannot tell a mobile from a fixed line by the number alone.
MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

_TYPE_NAMES = {value: name.lower() for name, value in vars(PhoneNumberType).items()
               if name.isupper() and isinstance(value, int)}


class PhoneNumberError(ValueError):
    """The text is not a valid phone number; the message says why, in words a sender reads."""


@dataclass(frozen=True)
class Phone:
    """A valid phone number and what its numbering plan says about it."""

    e164: str
    region: str
    number_type: int
    operator: str

    @property
    def is_mobile(self) -> bool:
        return self.number_type in MOBILE_TYPES

    @property
    def type_name(self) -> str:
        """``mobile``, ``fixed_line``, ``fixed_line_or_mobile``, ``voip``, ..."""
        return _TYPE_NAMES.get(self.number_type, "unknown")


def phone_parse(value: object, *, default_region: str | None = None) -> Phone:
    """Parse ``value`` (E.164, or national format when ``default_region`` is given) and check it
    is a valid number. Raises ``PhoneNumberError``."""
    text = str(value or "").strip()
    if not text:
        raise PhoneNumberError("A phone number is required.")
    if len(text) > 32:
        raise PhoneNumberError("A phone number has at most 32 characters.")
    try:
        number = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        kind = "a phone number" if default_region else \
            "an international phone number (+<country code>...)"
        raise PhoneNumberError(f"{text!r} is not {kind}: {exc._msg}") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberError(f"{text!r} is not a valid phone number.")
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number) or "",
        number_type=phonenumbers.number_type(number),
        operator=carrier.name_for_number(number, "en"),
    )


def phone_e164(value: object, *, default_region: str | None = None) -> str:
    """The E.164 form of a valid number (``+254708374149``). Raises ``PhoneNumberError``."""
    return phone_parse(value, default_region=default_region).e164
