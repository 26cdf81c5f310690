"""Date of birth, nationality and gender move a hit's score as evidence, an approximate listed
date of birth ("circa 1957", UN "APPROXIMATELY") is read as the years around it, and the operator
reads each part of a score on the case and decision pages."""

from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.cases.models import Case
from compliance.models import ScreeningDecision
from compliance.sanctions.parsers import (
    ofac_date_of_birth,
    sanctions_parse_ofac_sdn_csv,
    sanctions_parse_un_xml,
)
from compliance.services import (
    ScreeningParty,
    ScreeningSubject,
    name_screen,
    sanctions_import,
    screening_run,
)

SDN_CSV = (Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
           / "ofac-2024-05-03" / "sdn.csv")


@pytest.mark.parametrize(("text", "parsed"), [
    ("10 Dec 1948", "1948-12-10"),
    ("Dec 1948", "1948-12"),
    ("1948", "1948"),
    ("circa 1957", "1955/1959"),
    ("Circa 1957", "1955/1959"),
    ("approximately 1960", "1958/1962"),
    ("circa 01 Jan 1960", "1958/1962"),
    ("1958 to 1962", "1958/1962"),
    ("circa", ""),
])
def test_ofac_dates_of_birth(text, parsed):
    assert ofac_date_of_birth(text) == parsed


def un_dates(tmp_path, *births: str) -> list[str]:
    path = tmp_path / "consolidated.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL>'
        "<REFERENCE_NUMBER>QDi.001</REFERENCE_NUMBER><FIRST_NAME>ABDUL</FIRST_NAME>"
        "<SECOND_NAME>RAZIQ</SECOND_NAME>"
        + "".join(f"<INDIVIDUAL_DATE_OF_BIRTH>{birth}</INDIVIDUAL_DATE_OF_BIRTH>"
                  for birth in births)
        + "</INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>")
    return sanctions_parse_un_xml(path).entries["QDi.001"].dates_of_birth


def test_un_dates_of_birth_exact_approximate_and_between(tmp_path):
    assert un_dates(
        tmp_path,
        "<TYPE_OF_DATE>EXACT</TYPE_OF_DATE><DATE>1961-07-04</DATE>",
        "<TYPE_OF_DATE>APPROXIMATELY</TYPE_OF_DATE><YEAR>1966</YEAR>",
        "<TYPE_OF_DATE>BETWEEN</TYPE_OF_DATE><FROM_YEAR>1970</FROM_YEAR><TO_YEAR>1972</TO_YEAR>",
        "<TYPE_OF_DATE>EXACT</TYPE_OF_DATE><YEAR>1975</YEAR>",
    ) == ["1961-07-04", "1964/1968", "1970/1972", "1975"]


ENTRY = ('1,"MWANGI KAMAU, Abednego","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,'
         '"DOB {dob}; nationality Kenya; Gender Male."\r\n')


@pytest.fixture
def listed(tmp_path, db):
    def load(dob: str):
        path = tmp_path / "sdn.csv"
        path.write_text(ENTRY.format(dob=dob), encoding="latin-1")
        return sanctions_import(source="ofac-sdn", files=[path])
    return load


def evidence(party: ScreeningParty) -> tuple:
    screening = name_screen(party=party)
    if not screening.hits:
        return (screening.decision,)
    hit = screening.hits[0]
    return (screening.decision, hit["fields"]["date_of_birth"], hit["fields"]["country"],
            hit["fields"]["gender"], hit["adjustments"])


NAME = "Abednego Mwangi Kamau"


@pytest.mark.parametrize(("listed_dob", "party", "expected"), [
    # contradicting date of birth: lower, held for review, not blocked
    ("12 Mar 1971", ScreeningParty(name=NAME, date_of_birth="1990-01-01"),
     ("review", "mismatch", "absent", "absent", {"date_of_birth": -0.15})),
    ("12 Mar 1971", ScreeningParty(name=NAME, date_of_birth="1971-03-12"),
     ("block", "exact", "absent", "absent", {"date_of_birth": 0.05})),
    ("12 Mar 1971", ScreeningParty(name=NAME, date_of_birth="1971-10-02"),
     ("block", "year", "absent", "absent", {"date_of_birth": 0.02})),
    ("circa 1971", ScreeningParty(name=NAME, date_of_birth="1973-10-02"),
     ("block", "year", "absent", "absent", {"date_of_birth": 0.02})),
    ("1969 to 1972", ScreeningParty(name=NAME, date_of_birth="1973-10-02"),
     ("block", "near", "absent", "absent", {})),
    # nationality as an English name or an ISO code: the same evidence
    ("12 Mar 1971", ScreeningParty(name=NAME, country="Kenya"),
     ("block", "absent", "match", "absent", {"country": 0.03})),
    ("12 Mar 1971", ScreeningParty(name=NAME, country="ke"),
     ("block", "absent", "match", "absent", {"country": 0.03})),
    ("12 Mar 1971", ScreeningParty(name=NAME, country="MX"),
     ("block", "absent", "mismatch", "absent", {"country": -0.05})),
    # gender given and contradicting, or missing
    ("12 Mar 1971", ScreeningParty(name=NAME, gender="female"),
     ("review", "absent", "absent", "mismatch", {"gender": -0.1})),
    ("12 Mar 1971", ScreeningParty(name=NAME),
     ("block", "absent", "absent", "absent", {})),
])
def test_evidence_moves_the_score_and_says_how(listed, listed_dob, party, expected):
    listed(listed_dob)
    assert evidence(party) == expected


@pytest.mark.django_db
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(year=st.integers(1930, 2005), offset=st.integers(-6, 6))
def test_a_date_of_birth_near_a_circa_year_is_not_evidence_against(tmp_path, year, offset):
    path = tmp_path / f"sdn-{year}.csv"
    path.write_text(ENTRY.format(dob=f"circa {year}"), encoding="latin-1")
    [entry] = sanctions_parse_ofac_sdn_csv(path).entries.values()
    from compliance.screening.matcher import date_of_birth_adjustment

    adjustment, found = date_of_birth_adjustment(
        date(year + offset, 6, 15).isoformat(), entry.dates_of_birth)
    if abs(offset) <= 2:
        assert (found, adjustment > 0) == ("year", True)
    elif abs(offset) == 3:
        assert (found, adjustment) == ("near", 0.0)
    else:
        assert (found, adjustment < 0) == ("mismatch", True)


@pytest.mark.django_db
def test_the_case_and_decision_pages_explain_each_part_of_the_score(listed, admin_client):
    listed("12 Mar 1971")
    decision = screening_run(subject=ScreeningSubject(
        reference="tr_explained", party_names=[], addresses=[], amount_in=1,
        review_amount_in=None,
        parties=(ScreeningParty(name=NAME, date_of_birth="1990-01-01", country="KE"),)))
    assert decision.outcome == ScreeningDecision.Outcome.HOLD
    from compliance.cases.services import case_open

    case = case_open(subject_reference=decision.subject_reference, reasons=decision.reasons,
                     decision_id=decision.pk)

    for url in (reverse("admin:cases_case_change", args=[case.pk]),
                reverse("admin:compliance_screeningdecision_change", args=[decision.pk])):
        page = admin_client.get(url).content.decode()
        assert ("Name hit: &#x27;Abednego Mwangi Kamau&#x27; matched "
                "&#x27;MWANGI KAMAU, Abednego&#x27;, ofac-sdn individual 1: REVIEW") in page
        assert ("Score 0.88 = name 1.00, date of birth \u22120.15 (contradicts the list; "
                "listed 1971-03-12), country +0.03 (matches; listed KE), gender +0.00 "
                "(not given, or not listed; listed male)") in page
        assert "Thresholds: review from 0.85, block from 0.95" in page
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_the_transfer_page_names_the_listed_name_a_hit_matched(listed, admin_client):
    from gateway.transfers.models import Transfer
    from tests.gateway.transfers.factories import make_transfer

    listed("12 Mar 1971")
    transfer = make_transfer(state="on_hold", recipient={"name": NAME,
                                                          "phone_number": "+254708374149"})
    decision = screening_run(subject=ScreeningSubject(
        reference=transfer.reference, party_names=[NAME], addresses=[], amount_in=1,
        review_amount_in=None))
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=decision)

    page = admin_client.get(reverse("admin:transfers_transfer_change", args=[transfer.pk]))

    assert "sanctioned-name 1 (MWANGI KAMAU, Abednego) score 1.0" in page.content.decode()


@pytest.mark.parametrize(("written", "code"), [
    ("Bosnia and Herzegovina", "BA"), ("Trinidad and Tobago", "TT"),
    ("Saint Kitts and Nevis", "KN"), ("St. Lucia", "LC"), ("Cabo Verde", "CV"),
    ("China, Hong Kong Special Administrative Region", "HK"), ("Hong Kong", "HK"),
    ("North Macedonia, The Republic of", "MK"), ("Sao Tome and Principe", "ST"),
    ("United Kingdom of Great Britain and Northern Ireland", "GB"),
    ("Iran (Islamic Republic of)", "IR"), ("Congo, Democratic Republic of the", "CD"),
    ("Kenya", "KE"), ("ke", "KE"), ("former Soviet Union", ""), ("Foo Kenya", ""),
])
def test_nationalities_as_lists_write_them(written, code):
    from compliance.normalize import country_code

    assert country_code(written) == code


@pytest.mark.parametrize(("place", "code"), [
    ("Kinshasa, Congo, Democratic Republic of the", "CD"), ("Khartoum Sudan", "SD"),
    ("Culiacan, Sinaloa, Mexico", "MX"), ("Jalisco Mexico", "MX"),
    ("Foca, Bosnia-Herzegovina", "BA"), ("Port Moresby, Papua New Guinea", "PG"),
    ("Kigali", ""), ("Baja California Norte", ""),
])
def test_the_country_of_a_listed_place_of_birth(tmp_path, place, code):
    path = tmp_path / "sdn.csv"
    path.write_text('7,"DOE, John","individual","SDGT",-0-,-0-,-0-,-0-,-0-,-0-,-0-,'
                    f'"POB {place}."\r\n', encoding="latin-1")
    assert sanctions_parse_ofac_sdn_csv(path).entries["7"].countries == ([code] if code else [])


def test_a_un_place_of_birth_is_a_country_of_the_entry(tmp_path):
    path = tmp_path / "consolidated.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL>'
        "<REFERENCE_NUMBER>QDi.002</REFERENCE_NUMBER><FIRST_NAME>ABDUL</FIRST_NAME>"
        "<NATIONALITY><VALUE>Trinidad and Tobago</VALUE></NATIONALITY>"
        "<INDIVIDUAL_PLACE_OF_BIRTH><CITY>Kigali</CITY><COUNTRY>Rwanda</COUNTRY>"
        "</INDIVIDUAL_PLACE_OF_BIRTH></INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>")
    assert sanctions_parse_un_xml(path).entries["QDi.002"].countries == ["TT", "RW"]
