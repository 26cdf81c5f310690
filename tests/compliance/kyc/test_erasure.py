"""Erasure on a data subject's request: what no obligation keeps goes now, the rest when it may."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.kyc import services
from compliance.kyc.models import Customer, CustomerDocument, CustomerErasure, KycTier
from compliance.models import ScreeningDecision
from tests.compliance.kyc.test_documents import assert_problem, png, upload
from tests.gateway.partners.factories import make_partner

FIELDS = {"first_name": "Amina", "last_name": "Odhiambo", "birth_date": "1990-04-02",
          "email_address": "amina@example.com", "mobile_number": "+254708374149",
          "address": "12 Moi Avenue", "city": "Nairobi", "address_country_code": "KE"}


@pytest.fixture
def world(db):
    KycTier.objects.create(code="standard", name="Standard", level=2,
                           natural_person_fields=["first_name", "last_name", "birth_date"])
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.put("/api/v1/customers", data=json.dumps({
        "external_id": "c-1", "type": "sender", "tier": "standard", "fields": FIELDS}),
        content_type="application/json")
    assert response.status_code == 202, response.content
    return client, partner, Customer.objects.get(public_id=response.json()["id"])


def erase(client, customer):
    return client.delete(f"/api/v1/customers/{customer.public_id}")


def test_a_customer_never_reviewed_is_erased_whole(world):
    client, _partner, customer = world
    document_id = upload(client, customer, png()).json()["id"]
    response = erase(client, customer)
    assert response.status_code == 200, response.content
    record = response.json()
    assert sorted(record["erased"]) == sorted(
        [f"fields.{name}" for name in FIELDS] + [f"documents.{document_id}"])
    assert record["kept"] == []
    assert record["completed_at"] is not None
    customer.refresh_from_db()
    assert customer.fields == {}
    assert (customer.name_index, customer.phone_index, customer.name_birth_date_index) == (
        "", "", "")
    document = CustomerDocument.objects.get(public_id=document_id)
    assert document.erased_at is not None
    assert services.customer_document_content(document=document) == b""
    assert document.digest == ""

    shown = client.get(f"/api/v1/customers?id={customer.public_id}").json()
    assert shown["erased_at"] is not None
    assert shown["provided_fields"] == {}
    assert shown["documents"][0]["erased"] is True
    assert client.get(f"/api/v1/customers/{customer.public_id}/erasure").json() == record


def test_a_reviewed_customer_keeps_due_diligence_records_until_the_period_ends(world, settings):
    settings.KYC_RETENTION_DAYS = 1825
    client, _partner, customer = world
    reviewed_id = upload(client, customer, png()).json()["id"]
    services.customer_document_review(
        document=CustomerDocument.objects.get(public_id=reviewed_id), accept=True,
        operator="ops")
    services.customer_review(customer=customer, accept=True, operator="ops")
    unreviewed_id = upload(client, customer, png(width=3), kind="photo_id_back").json()["id"]

    record = erase(client, customer).json()
    assert sorted(record["erased"]) == ["documents." + unreviewed_id, "fields.email_address",
                                        "fields.mobile_number"]
    kept = {item["item"]: item for item in record["kept"]}
    assert set(kept) == {"fields.first_name", "fields.last_name", "fields.birth_date",
                         "fields.address", "fields.city", "fields.address_country_code",
                         f"documents.{reviewed_id}"}
    assert {item["reason"] for item in kept.values()} == {"legal_obligation"}
    until = {item["retained_until"] for item in kept.values()}
    assert len(until) == 1
    assert record["completed_at"] is None
    customer.refresh_from_db()
    assert set(customer.fields) == {"first_name", "last_name", "birth_date", "address", "city",
                                    "address_country_code"}
    assert customer.phone_index == ""
    assert customer.name_index != ""

    # Nothing more goes before the period ends; everything goes after it.
    assert services.customer_erasures_complete(now=timezone.now() + timedelta(days=30)) == 0
    assert services.customer_erasures_complete(now=timezone.now() + timedelta(days=1826)) == 1
    customer.refresh_from_db()
    assert customer.fields == {}
    assert customer.name_index == ""
    erasure = CustomerErasure.objects.get(customer=customer)
    assert erasure.kept == []
    assert erasure.completed_at is not None
    assert f"documents.{reviewed_id}" in erasure.erased
    assert CustomerDocument.objects.get(public_id=reviewed_id).erased_at is not None


def test_a_customer_compliance_holds_keeps_everything_and_is_not_told_why(world):
    client, _partner, customer = world
    ScreeningDecision.objects.create(subject_reference=f"customer:{customer.public_id}",
                                     outcome=ScreeningDecision.Outcome.HOLD,
                                     reasons=[{"rule": "sanctions", "score": 0.97}],
                                     rules_version="test", list_versions={})
    record = erase(client, customer).json()
    assert record["erased"] == []
    assert {item["item"] for item in record["kept"]} == {f"fields.{name}" for name in FIELDS}
    assert {item["reason"] for item in record["kept"]} == {"legal_obligation"}
    text = json.dumps(record).lower()
    for word in ("sanction", "hold", "case", "screen", "review"):
        assert word not in text
    customer.refresh_from_db()
    assert customer.fields["email_address"] == "amina@example.com"
    # While the hold stands nothing goes, whatever the date.
    assert services.customer_erasures_complete(now=timezone.now() + timedelta(days=4000)) == 0


def test_an_erased_customer_takes_nothing_more_and_a_second_request_answers_the_first(world):
    client, _partner, customer = world
    first = erase(client, customer).json()
    assert erase(client, customer).json() == first
    assert CustomerErasure.objects.count() == 1
    put = client.put("/api/v1/customers", data=json.dumps({
        "id": str(customer.public_id), "external_id": "c-1", "type": "sender",
        "tier": "standard", "fields": {"first_name": "Amina"}}), content_type="application/json")
    assert_problem(put, 409, "customer-erased")
    assert_problem(upload(client, customer, png()), 409, "customer-erased")
    customer.refresh_from_db()
    assert customer.fields == {}


def test_unknown_customers_are_404_problems(world):
    client, _partner, _customer = world
    assert_problem(client.delete("/api/v1/customers/not-a-uuid"), 404, "not-found")
    _other, other_key = make_partner()
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert_problem(erase(stranger, _customer), 404, "not-found")
    assert_problem(client.get(f"/api/v1/customers/{_customer.public_id}/erasure"), 404,
                   "not-found")
    assert not CustomerErasure.objects.exists()
