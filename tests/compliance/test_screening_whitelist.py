"""Whitelists: one customer, one list entry, with reason, author and expiry; honoured by
``name_screen`` and ``screening_run``; added from the admin through the same service."""

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import ScreeningDecision, ScreeningWhitelist
from compliance.services import (
    ScreeningParty,
    ScreeningSubject,
    name_screen,
    sanctions_import,
    screening_run,
    screening_whitelist_add,
)
from gateway.common.problems import DomainError

DATA = Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
SDN_CSV = DATA / "ofac-2024-05-03" / "sdn.csv"
CUSTOMER = str(uuid.uuid4())
OTHER_CUSTOMER = str(uuid.uuid4())

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sdn(tmp_path):
    """POTEKHIN, Danil (29584) and BOUT, Viktor Anatolijevitch (8279)."""
    extract = tmp_path / "sdn.csv"
    extract.write_bytes(b"\r\n".join(line for line in SDN_CSV.read_bytes().split(b"\r\n")
                                     if line.startswith((b"29584,", b"8279,"))) + b"\r\n")
    return sanctions_import(source="ofac-sdn", files=[extract])


def whitelist(**overrides) -> ScreeningWhitelist:
    values = {"customer_reference": CUSTOMER, "list_source": "ofac-sdn", "entry_id": "29584",
              "reason": "Namesake: born 2001 in Nairobi, passport checked",
              "author": "officer@example.com", "expires_at": timezone.now() + timedelta(days=90)}
    return screening_whitelist_add(**{**values, **overrides})


def screened(name="Danil Potekhin", customer=CUSTOMER):
    return name_screen(party=ScreeningParty(name=name, customer_reference=customer))


def test_a_whitelist_clears_one_entry_for_one_customer_only():
    added = whitelist()
    assert (added.reason, added.author) == ("Namesake: born 2001 in Nairobi, passport checked",
                                            "officer@example.com")
    mine = screened()
    assert (mine.decision, mine.hits) == ("clear", [])
    assert [hit["entry_id"] for hit in mine.whitelisted] == ["29584"]
    # Another customer with the same name is still held.
    theirs = screened(customer=OTHER_CUSTOMER)
    assert (theirs.decision, [hit["entry_id"] for hit in theirs.hits]) == ("block", ["29584"])
    # Another entry is still a hit for this customer.
    assert [hit["entry_id"] for hit in screened("Viktor Bout").hits] == ["8279"]


def test_an_expired_whitelist_is_not_honoured():
    added = whitelist()
    ScreeningWhitelist.objects.filter(pk=added.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    result = screened()
    assert (result.decision, result.whitelisted) == ("block", [])


def test_screening_run_records_the_whitelisted_hit_and_approves():
    whitelist()
    decision = screening_run(subject=ScreeningSubject(
        reference=str(uuid.uuid4()), party_names=[], addresses=[], amount_in=Decimal("10"),
        review_amount_in=None,
        parties=(ScreeningParty(name="Danil Potekhin", customer_reference=CUSTOMER),)))
    assert decision.outcome == ScreeningDecision.Outcome.APPROVE
    assert [(reason["rule"], reason["entry_id"], reason["customer_reference"])
            for reason in decision.reasons] == [("whitelisted-name", "29584", CUSTOMER)]


@pytest.mark.parametrize(("overrides", "slug"), [
    ({"reason": "  "}, "reason-required"),
    ({"author": ""}, "whitelist-incomplete"),
    ({"customer_reference": ""}, "whitelist-incomplete"),
    ({"expires_at": timezone.now() - timedelta(days=1)}, "whitelist-expired"),
    ({"entry_id": "99999999"}, "unknown-list-entry"),
    ({"list_source": "un-consolidated"}, "unknown-list-entry"),
])
def test_an_incomplete_whitelist_is_refused_and_nothing_is_written(overrides, slug):
    with pytest.raises(DomainError) as raised:
        whitelist(**overrides)
    assert raised.value.slug == slug
    assert not ScreeningWhitelist.objects.exists()


def test_one_whitelist_per_customer_and_entry():
    whitelist()
    with pytest.raises(DomainError) as raised:
        whitelist(reason="again")
    assert (raised.value.slug, ScreeningWhitelist.objects.count()) == ("whitelist-exists", 1)


def test_the_admin_adds_a_whitelist_with_the_operator_as_author(admin_client, admin_user):
    add = reverse("admin:compliance_screeningwhitelist_add")
    assert admin_client.get(add).status_code == 200
    expires = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d")
    form = {"customer_reference": CUSTOMER, "list_source": "ofac-sdn", "entry_id": "29584",
            "reason": "Namesake", "expires_at_0": expires, "expires_at_1": "12:00:00"}
    response = admin_client.post(add, form)
    assert response.status_code == 302, response.content
    added = ScreeningWhitelist.objects.get()
    assert (added.customer_reference, added.entry_id, added.author) == (
        CUSTOMER, "29584", admin_user.get_username())
    listing = admin_client.get(reverse("admin:compliance_screeningwhitelist_changelist"))
    assert CUSTOMER in listing.content.decode()
    change = admin_client.get(reverse("admin:compliance_screeningwhitelist_change",
                                      args=[added.pk]))
    assert change.status_code == 200


def test_the_admin_shows_the_service_refusal_as_a_form_error(admin_client):
    add = reverse("admin:compliance_screeningwhitelist_add")
    form = {"customer_reference": CUSTOMER, "list_source": "ofac-sdn", "entry_id": "404",
            "reason": "Namesake", "expires_at_0": "2020-01-01", "expires_at_1": "12:00:00"}
    response = admin_client.post(add, form)
    assert response.status_code == 200
    assert "A whitelist must expire in the future." in response.content.decode()
    assert not ScreeningWhitelist.objects.exists()
