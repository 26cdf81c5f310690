"""Travel-rule data: IVMS101 above the threshold, names and accounts below it."""

import copy
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from compliance.monitoring.travel_rule import TravelRuleDataError, travel_rule_validate
from tests.gateway.partners.factories import make_partner

ORIGINATOR = {
    "originatorPersons": [{"naturalPerson": {
        "name": {"nameIdentifier": [{"primaryIdentifier": "Odhiambo",
                                     "secondaryIdentifier": "Amina",
                                     "nameIdentifierType": "LEGL"}]},
        "geographicAddress": [{"addressType": "HOME", "streetName": "Moi Avenue",
                               "buildingNumber": "12", "townName": "Nairobi", "country": "KE"}],
        "nationalIdentification": {"nationalIdentifier": "12345678",
                                   "nationalIdentifierType": "IDCR", "countryOfIssue": "KE"},
        "dateAndPlaceOfBirth": {"dateOfBirth": "1990-04-02", "placeOfBirth": "Kisumu"},
    }}],
    "accountNumber": ["0x5FbDB2315678afecb367f032d93F642f64180aa3"],
}
BENEFICIARY = {
    "beneficiaryPersons": [{"legalPerson": {
        "name": {"nameIdentifier": [{"legalPersonName": "Jua Kali Traders Ltd",
                                     "legalPersonNameIdentifierType": "LEGL"}]},
        "nationalIdentification": {"nationalIdentifier": "529900T8BM49AURSDO55",
                                   "nationalIdentifierType": "LEIX"},
    }}],
    "accountNumber": ["+254708374149"],
}
BASIC_ORIGINATOR = {"originatorPersons": [{"naturalPerson": {"name": {"nameIdentifier": [
    {"primaryIdentifier": "Odhiambo", "nameIdentifierType": "LEGL"}]}}}],
    "accountNumber": ["wallet-1"]}


def errors_of(amount, originator, beneficiary):
    with pytest.raises(TravelRuleDataError) as caught:
        travel_rule_validate(amount_usd=Decimal(amount), originator=originator,
                             beneficiary=beneficiary)
    return {error["pointer"]: error["detail"] for error in caught.value.extra["errors"]}


def test_complete_data_passes_at_and_above_threshold():
    for amount in ("1000", "1000.01"):
        result = travel_rule_validate(amount_usd=Decimal(amount), originator=ORIGINATOR,
                                      beneficiary=BENEFICIARY)
        assert (result.required, result.threshold_usd) == ("full", Decimal("1000"))


def test_below_threshold_names_and_accounts_suffice():
    result = travel_rule_validate(amount_usd=Decimal("999.99"), originator=BASIC_ORIGINATOR,
                                  beneficiary=BENEFICIARY)
    assert result.required == "basic"
    # The same originator is not enough at the threshold (IVMS101 C1).
    assert errors_of("1000", BASIC_ORIGINATOR, BENEFICIARY) == {
        "/originator/originatorPersons/0/naturalPerson":
            "An originator needs a geographicAddress, nationalIdentification, "
            "customerIdentification or dateAndPlaceOfBirth (IVMS101 C1)."}
    assert errors_of("5", {"originatorPersons": BASIC_ORIGINATOR["originatorPersons"]},
                     BENEFICIARY) == {"/originator/accountNumber": (
                         "Needs a list of account references (wallet address, mobile number...).")}


def test_every_problem_reported_with_its_path():
    originator = copy.deepcopy(ORIGINATOR)
    person = originator["originatorPersons"][0]["naturalPerson"]
    person["name"]["nameIdentifier"][0]["nameIdentifierType"] = "NICK"
    person["geographicAddress"][0].update(country="XX", streetName="")
    person["nationalIdentification"]["nationalIdentifierType"] = "SSN"
    person["dateAndPlaceOfBirth"]["dateOfBirth"] = "2999-01-01"
    beneficiary = copy.deepcopy(BENEFICIARY)
    beneficiary["beneficiaryPersons"][0]["legalPerson"]["nationalIdentification"][
        "nationalIdentifier"] = "529900T8BM49AURSDO56"
    at = "/originator/originatorPersons/0/naturalPerson"
    assert errors_of("2000", originator, beneficiary) == {
        f"{at}/name/nameIdentifier/0/nameIdentifierType": "One of ALIA, BIRT, LEGL, MAID, MISC.",
        f"{at}/name/nameIdentifier": "Needs a legal name (LEGL, IVMS101 C6).",
        f"{at}/geographicAddress/0": "Needs addressLine, or streetName with buildingName or "
                                     "buildingNumber (IVMS101 C8).",
        f"{at}/geographicAddress/0/country": "'XX' is not an ISO 3166-1 alpha-2 country code.",
        f"{at}/nationalIdentification/nationalIdentifierType":
            "One of ARNU, CCPT, DRLC, FIIN, IDCR, LEIX, MISC, RAID, SOCS, TXID.",
        f"{at}/dateAndPlaceOfBirth/dateOfBirth": "Must be in the past (IVMS101 C2).",
        "/beneficiary/beneficiaryPersons/0/legalPerson/nationalIdentification/"
        "nationalIdentifier": "Not a valid LEI (ISO 17442).",
    }


@pytest.mark.parametrize("party", [None, "text", {}, {"originatorPersons": []},
                                   {"originatorPersons": [{"naturalPerson": {},
                                                           "legalPerson": {}}]}])
def test_malformed_structures(party):
    assert errors_of("10", party, BENEFICIARY)


@pytest.mark.django_db
def test_api_answers_problem_details():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_partner()[1]}")
    ok = client.post("/api/v1/travel-rule/validate", {
        "amount_usd": "1500.00", "originator": ORIGINATOR, "beneficiary": BENEFICIARY},
        format="json")
    assert ok.json() == {"valid": True, "required": "full", "threshold_usd": "1000.00"}
    bad = client.post("/api/v1/travel-rule/validate", {
        "amount_usd": "1500.00", "originator": BASIC_ORIGINATOR, "beneficiary": "x"},
        format="json")
    assert bad.status_code == 422
    assert bad["Content-Type"] == "application/problem+json"
    assert bad.json()["type"] == "/problems/travel-rule-data-invalid"
    assert [e["pointer"] for e in bad.json()["errors"]] == [
        "/originator/originatorPersons/0/naturalPerson", "/beneficiary"]
    assert client.post("/api/v1/travel-rule/validate", {"amount_usd": "x"},
                       format="json").status_code == 400
