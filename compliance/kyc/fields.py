"""The customer fields a partner can send (SEP-12 names) and their validation.

Each validator returns the normalised value or raises ``ValueError`` with a message for the
partner. Identity numbers are checked with python-stdnum where it has a module for the country
and document type; phone numbers with phonenumbers; country codes against CLDR (Babel).
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.util import get_cc_module

from gateway.common.phones import PhoneNumberError, phone_e164

# Which python-stdnum module checks which (country, document type). Types follow IVMS101's
# national identifier codes, plus NIDN for a national identity number (the number, where IVMS101's
# IDCR names the card): TXID tax number,
# SOCS social security number, CCPT passport, DRLC driving licence, RAID registration authority.
STDNUM_MODULES: dict[tuple[str, str], str] = {
    ("ZA", "NIDN"): "idnr", ("ZA", "TXID"): "tin",
    ("KE", "TXID"): "pin",
    ("GH", "TXID"): "tin",
    ("MX", "NIDN"): "curp", ("MX", "TXID"): "rfc",
    ("BR", "NIDN"): "cpf", ("BR", "TXID"): "cpf", ("BR", "RAID"): "cnpj",
    ("IN", "NIDN"): "aadhaar", ("IN", "TXID"): "pan",
    ("US", "SOCS"): "ssn", ("US", "TXID"): "itin",
    ("ES", "NIDN"): "dni", ("ES", "TXID"): "nif",
    ("CN", "NIDN"): "ric",
    ("EG", "TXID"): "tn",
    ("MA", "RAID"): "ice",
    ("PE", "NIDN"): "cui",
    ("CL", "NIDN"): "rut", ("CL", "TXID"): "rut",
    ("CO", "NIDN"): "nit",
    ("TR", "NIDN"): "tckimlik",
    ("IT", "TXID"): "codicefiscale",
    ("FR", "TXID"): "nif",
    ("DE", "TXID"): "idnr",
}
ID_TYPES = ("NIDN", "TXID", "SOCS", "CCPT", "DRLC", "IDCR", "ARNU", "RAID", "MISC")
_GENERIC_DOCUMENT = re.compile(r"^[A-Z0-9]{4,24}$")


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    return frozenset(code for code in Locale("en").territories if re.fullmatch("[A-Z]{2}", code))


def country_code_clean(value: Any) -> str:
    code = str(value).strip().upper()
    if code not in _countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code.")
    return code


def text_clean(value: Any, *, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Must be a non-empty string.")
    text = " ".join(value.split())
    if len(text) > max_length:
        raise ValueError(f"At most {max_length} characters.")
    return text


def date_past_clean(value: Any) -> str:
    try:
        date = datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD).") from None
    if date >= datetime.datetime.now(tz=datetime.UTC).date():
        raise ValueError("Must be in the past.")
    if date.year < 1900:
        raise ValueError("Must be after 1900.")
    return date.isoformat()


def phone_clean(value: Any) -> str:
    """E.164 with a leading '+': the number must be valid for its country."""
    try:
        return phone_e164(value)
    except PhoneNumberError as exc:
        raise ValueError(str(exc)) from None


def id_type_clean(value: Any) -> str:
    code = str(value).strip().upper()
    if code not in ID_TYPES:
        raise ValueError(f"{value!r} is not one of {', '.join(ID_TYPES)}.")
    return code


def id_number_clean(number: Any, *, country: str, id_type: str) -> str:
    """The compact, validated number. python-stdnum decides where it knows the document; other
    documents (passports, unknown countries) must be 4-24 letters and digits."""
    module_name = STDNUM_MODULES.get((country, id_type))
    module = get_cc_module(country.lower(), module_name) if module_name else None
    raw = str(number).strip()
    if module is not None:
        try:
            return module.validate(raw)
        except StdnumValidationError as exc:
            raise ValueError(f"Not a valid {country} {id_type} number: {exc}.") from None
    compact = re.sub(r"[\s\-./]", "", raw).upper()
    if not _GENERIC_DOCUMENT.match(compact):
        raise ValueError("Must be 4 to 24 letters and digits.")
    return compact


@dataclass(frozen=True)
class FieldSpec:
    description: str
    clean: Callable[[Any], str]
    kind: str = "string"


NATURAL_PERSON_FIELDS: dict[str, FieldSpec] = {
    "first_name": FieldSpec("Given or first name", text_clean),
    "last_name": FieldSpec("Family or last name", text_clean),
    "additional_name": FieldSpec("Middle name or other names", text_clean),
    "birth_date": FieldSpec("Date of birth, YYYY-MM-DD", date_past_clean, "date"),
    "address": FieldSpec("Street address", text_clean),
    "city": FieldSpec("City or town", text_clean),
    "postal_code": FieldSpec("Postal code", text_clean),
    "address_country_code": FieldSpec("Country of the address, ISO 3166-1 alpha-2",
                                      country_code_clean),
    "mobile_number": FieldSpec("Mobile phone number, E.164", phone_clean),
    "email_address": FieldSpec("Email address", text_clean),
    "id_type": FieldSpec(f"Identity document type: {', '.join(ID_TYPES)}", id_type_clean),
    "id_country_code": FieldSpec("Country that issued the document, ISO 3166-1 alpha-2",
                                 country_code_clean),
    "id_number": FieldSpec("Identity document number", text_clean),
}
BUSINESS_FIELDS: dict[str, FieldSpec] = {
    "organization.name": FieldSpec("Registered legal name", text_clean),
    "organization.registration_number": FieldSpec("Company registration number", text_clean),
    "organization.registration_country_code": FieldSpec(
        "Country of registration, ISO 3166-1 alpha-2", country_code_clean),
    "organization.registered_address": FieldSpec("Registered address", text_clean),
    "organization.address_country_code": FieldSpec("Country of the address", country_code_clean),
    "organization.phone_number": FieldSpec("Phone number, E.164", phone_clean),
    "organization.email": FieldSpec("Email address", text_clean),
}


def fields_for_kind(kind: str) -> dict[str, FieldSpec]:
    return BUSINESS_FIELDS if kind == "business" else NATURAL_PERSON_FIELDS


def fields_clean(*, kind: str, submitted: dict[str, Any],
                 current: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Merge ``submitted`` into ``current``; returns (merged, errors by field name)."""
    specs = fields_for_kind(kind)
    merged = dict(current)
    errors: dict[str, list[str]] = {}
    for name, value in submitted.items():
        spec = specs.get(name)
        if spec is None:
            errors[name] = [f"Unknown field for a {kind.replace('_', ' ')}."]
            continue
        try:
            merged[name] = spec.clean(value)
        except ValueError as exc:
            errors[name] = [str(exc)]
    number_field, country_field, type_field = (
        ("organization.registration_number", "organization.registration_country_code", None)
        if kind == "business" else ("id_number", "id_country_code", "id_type"))
    if not errors and number_field in merged:
        # The number is checked against its document type and country, whichever of them this
        # submission changed.
        missing = [name for name in (country_field, type_field)
                   if name is not None and name not in merged]
        if missing:
            errors[number_field] = [f"Needs {' and '.join(missing)} to be checked."]
        else:
            try:
                merged[number_field] = id_number_clean(
                    merged[number_field], country=merged[country_field],
                    id_type=merged[type_field] if type_field else "RAID")
            except ValueError as exc:
                errors[number_field] = [str(exc)]
    return merged, errors
