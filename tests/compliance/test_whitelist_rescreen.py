"""A false positive an operator cleared stays cleared through re-screens while its list entry is
the one the operator looked at; once the list changes that entry (a new alias, date of birth or
nationality), the whitelist no longer applies and the customer is held again."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.cases.rescreen import customers_rescreen
from compliance.kyc.models import Customer, KycTier
from compliance.models import ScreeningWhitelist
from compliance.services import (
    ScreeningParty,
    name_screen,
    sanctions_import,
    sanctions_list_diff,
    screening_whitelist_add,
)
from tests.gateway.partners.factories import make_partner

SDN_CSV = (Path(__file__).resolve().parents[2] / "compliance" / "data" / "sanctions"
           / "ofac-2024-05-03" / "sdn.csv")

pytestmark = pytest.mark.django_db


def sdn_line(entry_id: bytes) -> bytes:
    [line] = [line for line in SDN_CSV.read_bytes().split(b"\r\n")
              if line.startswith(entry_id + b",")]
    return line


def version(folder: Path, name: str, *lines: bytes):
    path = folder / name
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return sanctions_import(source="ofac-sdn", files=[path])


def accepted_customer(first: str, last: str) -> Customer:
    tier, _ = KycTier.objects.get_or_create(code="basic", defaults={"name": "Basic", "level": 1})
    return Customer.objects.create(
        partner=make_partner()[0], external_id=f"{first} {last} {uuid.uuid4().hex[:4]}",
        role="recipient", kind=Customer.Kind.NATURAL_PERSON, tier=tier,
        status=Customer.Status.ACCEPTED,
        fields={"first_name": first, "last_name": last, "birth_date": "",
                "address_country_code": ""})


def cleared(customer: Customer, entry_id: str = "29584") -> ScreeningWhitelist:
    return screening_whitelist_add(
        customer_reference=str(customer.public_id), list_source="ofac-sdn", entry_id=entry_id,
        reason="Namesake: passport and date of birth checked", author="officer",
        expires_at=timezone.now() + timedelta(days=90))


POTEKHIN = sdn_line(b"29584")
BOUT = sdn_line(b"8279")
OTHER = sdn_line(b"6925")
# The same entry with one more alias: a change an operator has not reviewed.
POTEKHIN_NEW_ALIAS = POTEKHIN.replace(b"a.k.a. 'cronuswar';",
                                      b"a.k.a. 'cronuswar'; a.k.a. 'POTEKHIN, Daniil';")


def test_a_cleared_customer_is_not_held_again_while_the_entry_is_unchanged(tmp_path):
    first = version(tmp_path, "first.csv", POTEKHIN, BOUT)
    customer = accepted_customer("Danil", "Potekhin")
    cleared(customer)
    # Another entry changes; the cleared one does not.
    second = version(tmp_path, "second.csv", POTEKHIN, BOUT, OTHER)

    outcome = customers_rescreen(diff=sanctions_list_diff(old=first, new=second))

    assert outcome.cases == []
    assert name_screen(party=ScreeningParty(
        name="Danil Potekhin", customer_reference=str(customer.public_id))).decision == "clear"


def test_a_change_to_the_cleared_entry_holds_the_customer_again(tmp_path):
    first = version(tmp_path, "first.csv", POTEKHIN, BOUT)
    customer = accepted_customer("Danil", "Potekhin")
    cleared(customer)
    second = version(tmp_path, "second.csv", POTEKHIN_NEW_ALIAS, BOUT)
    diff = sanctions_list_diff(old=first, new=second)
    assert diff.changed == {"29584"}

    outcome = customers_rescreen(diff=diff)

    assert [case.subject_reference for case in outcome.cases] == [
        f"customer:{customer.public_id}"]
    [reason] = outcome.cases[0].reasons
    assert (reason["rule"], reason["entry_id"]) == ("sanctioned-name", "29584")
    assert name_screen(party=ScreeningParty(
        name="Danil Potekhin", customer_reference=str(customer.public_id))).decision != "clear"
    # Cleared again on the changed entry, it holds again no more.
    ScreeningWhitelist.objects.all().delete()
    cleared(customer)
    assert name_screen(party=ScreeningParty(
        name="Danil Potekhin", customer_reference=str(customer.public_id))).decision == "clear"


def test_the_admin_lists_a_whitelist_whose_entry_changed_as_lapsed(tmp_path, admin_client):
    version(tmp_path, "first.csv", POTEKHIN, BOUT)
    customer = accepted_customer("Danil", "Potekhin")
    cleared(customer)
    page = admin_client.get(reverse("admin:compliance_screeningwhitelist_changelist"))
    assert "in force" in page.content.decode()
    version(tmp_path, "second.csv", POTEKHIN_NEW_ALIAS, BOUT)
    page = admin_client.get(reverse("admin:compliance_screeningwhitelist_changelist"))
    assert "lapsed: the list entry changed" in page.content.decode()


def test_an_operator_clears_a_customer_hit_from_its_case_page(tmp_path, admin_client):
    import html

    first = version(tmp_path, "first.csv", BOUT)
    customer = accepted_customer("Danil", "Potekhin")
    second = version(tmp_path, "second.csv", BOUT, POTEKHIN)
    [case] = customers_rescreen(diff=sanctions_list_diff(old=first, new=second)).cases

    page = admin_client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    add_url = (f"{reverse('admin:compliance_screeningwhitelist_add')}?customer_reference="
               f"{customer.public_id}&list_source=ofac-sdn&entry_id=29584")
    assert html.escape(add_url) in page
    form = admin_client.get(add_url).content.decode()
    assert f'value="{customer.public_id}"' in form
    assert 'value="29584"' in form

    expires = timezone.now() + timedelta(days=30)
    answer = admin_client.post(reverse("admin:compliance_screeningwhitelist_add"), {
        "customer_reference": str(customer.public_id), "list_source": "ofac-sdn",
        "entry_id": "29584", "reason": "Born 2001, passport checked",
        "expires_at_0": expires.strftime("%Y-%m-%d"), "expires_at_1": "12:00:00"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    [cleared_pair] = ScreeningWhitelist.objects.all()
    assert (cleared_pair.reason, cleared_pair.entry_fingerprint != "") == (
        "Born 2001, passport checked", True)
    third = version(tmp_path, "third.csv", BOUT, POTEKHIN, OTHER)
    assert customers_rescreen(diff=sanctions_list_diff(old=second, new=third)).cases == []
