"""Customers through the partner API, encryption at rest, blind indexes, key rotation."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from compliance.kyc.models import Customer, CustomerEvent, KycTier
from compliance.kyc.selectors import customer_find
from compliance.kyc.services import customer_review
from gateway.common.crypto import decrypt_text, generate_key, key_id
from tests.gateway.partners.factories import make_partner

pytestmark = pytest.mark.django_db

FULL = {"first_name": "Amina", "last_name": "Odhiambo", "birth_date": "1990-04-02",
        "mobile_number": "+254 708 374 149", "id_type": "NIDN", "id_country_code": "ZA",
        "id_number": "7503305044089", "address": "12 Moi Avenue", "city": "Nairobi",
        "address_country_code": "KE"}


@pytest.fixture
def tier():
    return KycTier.objects.create(
        code="standard", name="Standard", level=2,
        natural_person_fields=["first_name", "last_name", "birth_date", "mobile_number",
                               "id_type", "id_country_code", "id_number"],
        business_fields=["organization.name", "organization.registration_number",
                         "organization.registration_country_code"],
        limit_per_transfer_usd=Decimal("1000"))


@pytest.fixture
def client_partner():
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client, partner


def put(client, **body):
    return client.put("/api/v1/customers", {"external_id": "c-1", "type": "sender",
                                            "tier": "standard", **body}, format="json")


def test_missing_fields_then_processing_then_accepted(tier, client_partner):
    client, _ = client_partner
    response = put(client, fields={"first_name": "Amina", "last_name": "Odhiambo"})
    assert response.status_code == 202
    assert response.json()["status"] == "needs_info"
    customer_id = response.json()["id"]

    body = client.get("/api/v1/customers", {"id": customer_id}).json()
    assert body["status"] == "needs_info"
    assert sorted(body["fields"]) == ["birth_date", "id_country_code", "id_number", "id_type",
                                      "mobile_number"]
    assert sorted(body["provided_fields"]) == ["first_name", "last_name"]
    assert "Amina" not in str(body)

    response = put(client, id=customer_id, fields=FULL)
    assert response.json() == {"id": customer_id, "status": "processing"}
    customer = Customer.objects.get(public_id=customer_id)
    assert customer.fields["mobile_number"] == "+254708374149"
    customer_review(customer=customer, accept=True, operator="officer")
    assert client.get("/api/v1/customers", {"external_id": "c-1", "type": "sep31-sender"}
                      ).json()["status"] == "accepted"
    # An unchanged resubmission keeps it accepted; a change sends it back to processing.
    assert put(client, fields=FULL).json()["status"] == "accepted"
    assert put(client, fields={"city": "Mombasa"}).json()["status"] == "processing"
    assert list(CustomerEvent.objects.filter(customer=customer).values_list(
        "to_status", flat=True)) == ["needs_info", "needs_info", "processing", "accepted",
                                     "processing"]


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"mobile_number": "+25470"}, "mobile_number", "not a valid phone number"),
    ({"mobile_number": "0708374149"}, "mobile_number", "not an international phone number"),
    ({"birth_date": "2999-01-01"}, "birth_date", "Must be in the past"),
    ({"id_type": "NIDN", "id_country_code": "ZA", "id_number": "7503305044088"}, "id_number",
     "Not a valid ZA NIDN number"),
    ({"id_type": "TXID", "id_country_code": "KE", "id_number": "A12345678"}, "id_number",
     "Not a valid KE TXID number"),
    ({"id_number": "123456"}, "id_number", "Needs id_country_code and id_type"),
    ({"address_country_code": "XX"}, "address_country_code", "not an ISO 3166-1"),
    ({"favourite_colour": "blue"}, "favourite_colour", "Unknown field"),
])
def test_invalid_fields_are_problem_details_and_store_nothing(tier, client_partner, fields,
                                                              field, message):
    client, _ = client_partner
    response = put(client, fields=fields)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/customer-fields-invalid"
    assert message in body["errors"][field][0]
    assert Customer.objects.count() == 0
    assert CustomerEvent.objects.count() == 0


def test_valid_kenyan_pin_and_passport_accepted(tier, client_partner):
    client, _ = client_partner
    assert put(client, fields={"id_type": "TXID", "id_country_code": "KE",
                               "id_number": "P051365947M"}).status_code == 202
    assert put(client, external_id="c-2", fields={
        "id_type": "CCPT", "id_country_code": "KE", "id_number": "ak 0123456"}).status_code == 202
    assert Customer.objects.get(external_id="c-2").fields["id_number"] == "AK0123456"


def test_unknown_tier_and_rejected_customer(tier, client_partner):
    client, _ = client_partner
    assert put(client, tier="gold").json()["type"] == "/problems/unknown-kyc-tier"
    put(client, fields=FULL)
    customer = Customer.objects.get()
    customer_review(customer=customer, accept=False, operator="officer", message="Fraud")
    response = put(client, fields={"city": "Kisumu"})
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/customer-rejected"
    customer.refresh_from_db()
    assert customer.fields["city"] == "Nairobi"


def test_other_partner_cannot_see_customer(tier, client_partner):
    client, _ = client_partner
    customer_id = put(client, fields=FULL).json()["id"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_partner()[1]}")
    response = other.get("/api/v1/customers", {"id": customer_id})
    assert response.status_code == 404
    assert other.get("/api/v1/customers").status_code == 400


def test_business_customer(tier, client_partner):
    client, _ = client_partner
    response = put(client, kind="business", fields={
        "organization.name": "Jua Kali Traders Ltd", "organization.registration_country_code": "BR",
        "organization.registration_number": "11.222.333/0001-81"})
    assert response.json()["status"] == "processing"
    assert Customer.objects.get().fields["organization.registration_number"] == "11222333000181"
    bad = put(client, external_id="b-2", kind="business", fields={
        "organization.registration_country_code": "BR",
        "organization.registration_number": "11.222.333/0001-82"})
    assert bad.status_code == 400


def test_personal_data_is_ciphertext_at_rest_and_found_by_blind_index(tier, client_partner,
                                                                     settings):
    client, _ = client_partner
    put(client, fields=FULL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT fields, phone_index, id_number_index FROM kyc_customer")
        stored, phone_index, id_index = cursor.fetchone()
    for plain in ("Amina", "Odhiambo", "1990-04-02", "254708374149", "7503305044089", "Moi"):
        assert plain not in stored
        assert plain not in phone_index + id_index
    assert stored.split(":")[0] == key_id(settings.FIELD_ENCRYPTION_KEYS[0])
    assert '"first_name":"Amina"' in decrypt_text(stored)
    customer = Customer.objects.get()
    assert list(customer_find(phone="+254708374149")) == [customer]
    assert list(customer_find(id_country="za", id_type="nidn",
                              id_number="750330 5044 089")) == [customer]
    assert list(customer_find(name="amina  ODHIAMBO", birth_date="1990-04-02")) == [customer]
    assert list(customer_find(name="Amina Odhiambo", birth_date="1990-04-03")) == []
    assert list(customer_find(phone="+254708374148")) == []


def test_rotation_re_encrypts_everything_and_resumes(tier, client_partner, settings,
                                                     capsys):
    client, _ = client_partner
    for index in range(5):
        put(client, external_id=f"c-{index}", fields={**FULL, "city": f"City {index}"})
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    # A value written after the new key arrived is already under it.
    put(client, external_id="c-new", fields=FULL)

    call_command("rotate_encryption_keys", "--dry-run")
    assert "kyc.Customer.fields: 5 to re-encrypt" in capsys.readouterr().out
    call_command("rotate_encryption_keys", "--batch-size", "2")
    out = capsys.readouterr().out
    assert "kyc.Customer.fields: 2/5" in out
    assert "kyc.Customer.fields: 4/5" in out
    assert "kyc.Customer.fields: 5 re-encrypted" in out
    with connection.cursor() as cursor:
        cursor.execute("SELECT fields FROM kyc_customer")
        assert {row[0].split(":")[0] for row in cursor.fetchall()} == {key_id(new_key)}
    call_command("rotate_encryption_keys")
    assert "0 values re-encrypted" in capsys.readouterr().out

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    cities = sorted(c.fields["city"] for c in Customer.objects.all())
    assert cities == ["City 0", "City 1", "City 2", "City 3", "City 4", "Nairobi"]


def test_rotation_covers_transfers_and_venue_secrets(settings):
    from compliance.kyc.rotation import encrypted_columns

    labels = {column.label for column in encrypted_columns()}
    assert {"kyc.Customer.fields", "transfers.Transfer.sender", "transfers.Transfer.recipient",
            "liquidity.Venue.api_secret"} <= labels


def test_rotation_with_old_key_removed_too_early_is_a_readable_error(tier, client_partner,
                                                                     settings):
    from django.core.management.base import CommandError

    client, _ = client_partner
    put(client, fields=FULL)
    settings.FIELD_ENCRYPTION_KEYS = [generate_key()]
    with pytest.raises(CommandError, match="Keep the old keys configured"):
        call_command("rotate_encryption_keys")
