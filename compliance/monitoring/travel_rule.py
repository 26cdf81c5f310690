"""Travel rule (FATF Recommendation 16): originator and beneficiary data that travels with a
transfer, in IVMS101 JSON (interVASP Messaging Standard, 2020).

At or above ``TRAVEL_RULE_THRESHOLD_USD`` (default 1000; FATF's "USD/EUR 1,000 or more") both
parties must be complete IVMS101 persons: a legal name, and for the originator an address, a
national identification, a customer identification or a date and place of birth; account
numbers on both sides. Below it, a name and an account number per party suffice.
Every problem found is returned at once, each with the JSON path of the offending value.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from stdnum import lei

from compliance.kyc.fields import country_code_clean
from gateway.common.problems import DomainError

NATURAL_NAME_TYPES = {"ALIA", "BIRT", "MAID", "LEGL", "MISC"}
LEGAL_NAME_TYPES = {"LEGL", "SHRT", "TRAD"}
ADDRESS_TYPES = {"HOME", "BIZZ", "GEOG"}
NATIONAL_ID_TYPES = {"ARNU", "CCPT", "RAID", "DRLC", "FIIN", "TXID", "SOCS", "IDCR", "LEIX",
                     "MISC"}
LEGAL_PERSON_ID_TYPES = {"RAID", "MISC", "LEIX", "TXID"}


class TravelRuleDataError(DomainError):
    slug = "travel-rule-data-invalid"
    title = "Travel-rule data is missing or invalid"
    status = 422


@dataclass(frozen=True)
class TravelRuleResult:
    required: str  # "full" (IVMS101 complete) or "basic" (names and accounts)
    threshold_usd: Decimal


def travel_rule_threshold_usd() -> Decimal:
    return Decimal(str(getattr(settings, "TRAVEL_RULE_THRESHOLD_USD", "1000")))


class _Checker:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append({"pointer": path, "detail": message})

    def text(self, data: dict, key: str, path: str, *, required: bool = True,
             max_length: int = 100) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.error(f"{path}/{key}", "Required.")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.error(f"{path}/{key}", "Must be a non-empty string.")
            return ""
        if len(value) > max_length:
            self.error(f"{path}/{key}", f"At most {max_length} characters.")
        return value

    def country(self, data: dict, key: str, path: str, *, required: bool = True) -> None:
        value = self.text(data, key, path, required=required, max_length=2)
        if value:
            try:
                country_code_clean(value)
            except ValueError as exc:
                self.error(f"{path}/{key}", str(exc))

    def objects(self, data: Any, path: str, *, required: bool = True) -> list[dict]:
        if data is None and not required:
            return []
        if not isinstance(data, list) or not data or not all(isinstance(i, dict) for i in data):
            self.error(path, "Must be a non-empty list of objects.")
            return []
        return data

    def address(self, address: dict, path: str) -> None:
        if address.get("addressType") not in ADDRESS_TYPES:
            self.error(f"{path}/addressType", f"One of {', '.join(sorted(ADDRESS_TYPES))}.")
        lines = address.get("addressLine")
        has_lines = isinstance(lines, list) and any(isinstance(x, str) and x.strip()
                                                    for x in lines)
        has_street = bool(address.get("streetName")) and bool(
            address.get("buildingName") or address.get("buildingNumber"))
        if not has_lines and not has_street:
            self.error(path, "Needs addressLine, or streetName with buildingName or "
                             "buildingNumber (IVMS101 C8).")
        self.text(address, "townName", path, max_length=35)
        self.country(address, "country", path)

    def national_identification(self, data: Any, path: str, *, legal: bool) -> None:
        if not isinstance(data, dict):
            self.error(path, "Must be an object.")
            return
        number = self.text(data, "nationalIdentifier", path, max_length=35)
        kind = data.get("nationalIdentifierType")
        allowed = LEGAL_PERSON_ID_TYPES if legal else NATIONAL_ID_TYPES
        if kind not in allowed:
            self.error(f"{path}/nationalIdentifierType", f"One of {', '.join(sorted(allowed))}.")
        if kind == "LEIX":
            if number and not lei.is_valid(number):
                self.error(f"{path}/nationalIdentifier", "Not a valid LEI (ISO 17442).")
        elif data.get("countryOfIssue") or not legal:
            # IVMS101 C7/C9: a national identifier other than an LEI names its issuing country.
            self.country(data, "countryOfIssue", path)

    def natural_person(self, person: dict, path: str, *, full: bool, originator: bool) -> None:
        name = person.get("name")
        identifiers = self.objects(name.get("nameIdentifier") if isinstance(name, dict) else None,
                                   f"{path}/name/nameIdentifier")
        for index, identifier in enumerate(identifiers):
            at = f"{path}/name/nameIdentifier/{index}"
            self.text(identifier, "primaryIdentifier", at)
            self.text(identifier, "secondaryIdentifier", at, required=False)
            if identifier.get("nameIdentifierType") not in NATURAL_NAME_TYPES:
                self.error(f"{at}/nameIdentifierType",
                           f"One of {', '.join(sorted(NATURAL_NAME_TYPES))}.")
        if identifiers and not any(i.get("nameIdentifierType") == "LEGL" for i in identifiers):
            self.error(f"{path}/name/nameIdentifier", "Needs a legal name (LEGL, IVMS101 C6).")
        for index, address in enumerate(self.objects(person.get("geographicAddress"),
                                                     f"{path}/geographicAddress",
                                                     required=False)):
            self.address(address, f"{path}/geographicAddress/{index}")
        if "nationalIdentification" in person:
            self.national_identification(person["nationalIdentification"],
                                         f"{path}/nationalIdentification", legal=False)
        birth = person.get("dateAndPlaceOfBirth")
        if birth is not None:
            self._birth(birth, f"{path}/dateAndPlaceOfBirth")
        if "countryOfResidence" in person:
            self.country(person, "countryOfResidence", path)
        if full and originator and not any(
                person.get(key) for key in ("geographicAddress", "nationalIdentification",
                                            "customerIdentification", "dateAndPlaceOfBirth")):
            self.error(path, "An originator needs a geographicAddress, nationalIdentification, "
                             "customerIdentification or dateAndPlaceOfBirth (IVMS101 C1).")

    def _birth(self, birth: Any, path: str) -> None:
        if not isinstance(birth, dict):
            self.error(path, "Must be an object.")
            return
        self.text(birth, "placeOfBirth", path, max_length=70)
        value = self.text(birth, "dateOfBirth", path, max_length=10)
        if value:
            try:
                date = datetime.date.fromisoformat(value)
            except ValueError:
                self.error(f"{path}/dateOfBirth", "Must be a date (YYYY-MM-DD).")
                return
            if date >= datetime.datetime.now(tz=datetime.UTC).date():
                self.error(f"{path}/dateOfBirth", "Must be in the past (IVMS101 C2).")

    def legal_person(self, person: dict, path: str, *, full: bool, originator: bool) -> None:
        name = person.get("name")
        identifiers = self.objects(name.get("nameIdentifier") if isinstance(name, dict) else None,
                                   f"{path}/name/nameIdentifier")
        for index, identifier in enumerate(identifiers):
            at = f"{path}/name/nameIdentifier/{index}"
            self.text(identifier, "legalPersonName", at)
            if identifier.get("legalPersonNameIdentifierType") not in LEGAL_NAME_TYPES:
                self.error(f"{at}/legalPersonNameIdentifierType",
                           f"One of {', '.join(sorted(LEGAL_NAME_TYPES))}.")
        if identifiers and not any(i.get("legalPersonNameIdentifierType") == "LEGL"
                                   for i in identifiers):
            self.error(f"{path}/name/nameIdentifier", "Needs a legal name (LEGL, IVMS101 C5).")
        for index, address in enumerate(self.objects(person.get("geographicAddress"),
                                                     f"{path}/geographicAddress",
                                                     required=False)):
            self.address(address, f"{path}/geographicAddress/{index}")
        if "nationalIdentification" in person:
            self.national_identification(person["nationalIdentification"],
                                         f"{path}/nationalIdentification", legal=True)
        if "countryOfRegistration" in person:
            self.country(person, "countryOfRegistration", path)
        if full and originator and not any(
                person.get(key) for key in ("geographicAddress", "nationalIdentification",
                                            "customerIdentification")):
            self.error(path, "An originator needs a geographicAddress, nationalIdentification "
                             "or customerIdentification.")

    def party(self, data: Any, path: str, persons_key: str, *, full: bool,
              originator: bool) -> None:
        if not isinstance(data, dict):
            self.error(path, "Required: an IVMS101 object.")
            return
        for index, person in enumerate(self.objects(data.get(persons_key),
                                                    f"{path}/{persons_key}")):
            at = f"{path}/{persons_key}/{index}"
            natural, legal = person.get("naturalPerson"), person.get("legalPerson")
            if (natural is None) == (legal is None):
                self.error(at, "Exactly one of naturalPerson or legalPerson.")
            elif not isinstance(natural or legal, dict):
                self.error(at, "The person must be an object.")
            elif natural is not None:
                self.natural_person(natural, f"{at}/naturalPerson", full=full,
                                    originator=originator)
            else:
                self.legal_person(legal, f"{at}/legalPerson", full=full, originator=originator)
        accounts = data.get("accountNumber")
        if not isinstance(accounts, list) or not accounts or not all(
                isinstance(a, str) and a.strip() and len(a) <= 100 for a in accounts):
            self.error(f"{path}/accountNumber",
                       "Needs a list of account references (wallet address, mobile number...).")


def travel_rule_validate(*, amount_usd: Decimal, originator: Any,
                         beneficiary: Any) -> TravelRuleResult:
    """Check the travel-rule data of a transfer; raises ``TravelRuleDataError`` listing every
    problem (``errors``: JSON pointer + detail)."""
    threshold = travel_rule_threshold_usd()
    full = amount_usd >= threshold
    checker = _Checker()
    checker.party(originator, "/originator", "originatorPersons", full=full, originator=True)
    checker.party(beneficiary, "/beneficiary", "beneficiaryPersons", full=full, originator=False)
    if checker.errors:
        level = "complete IVMS101 data" if full else "names and account references"
        raise TravelRuleDataError(
            f"A transfer of {amount_usd} USD needs {level} for originator and beneficiary "
            f"(threshold {threshold} USD).", extra={"errors": checker.errors})
    return TravelRuleResult(required="full" if full else "basic", threshold_usd=threshold)
