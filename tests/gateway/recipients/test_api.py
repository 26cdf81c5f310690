"""Saved recipients: verified by the rail where it can, encrypted, named by id in transfers."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from gateway.recipients.models import Recipient
from gateway.transfers.models import Quote, Transfer
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_quote
from tests.ramps.chain.factories import make_chain

PROBLEM = "application/problem+json"
ACTIVE = "+256772123450"  # MoMo sandbox: last digit 0, the account holder is active
UNKNOWN = "+256772123452"  # last digit 2: the account holder check answers false


@pytest.fixture
def momo_corridor(momo_rail):
    return make_corridor(rail=momo_rail, currency_out="UGX", code="usdc-ugx")


def save(client, corridor, phone, name="Grace Nakato", **extra):
    return client.post("/api/v1/recipients", data=json.dumps(
        {"corridor": corridor.code, "name": name, "phone_number": phone, **extra}),
        content_type="application/json")


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def test_the_rail_verifies_or_refuses_and_the_data_is_encrypted(partner_client, momo_corridor):
    verified = save(partner_client, momo_corridor, "0772 123450", country="ug")
    assert verified.status_code == 201, verified.content
    body = verified.json()
    assert body["verification"] == "verified"
    assert (body["name"], body["phone_number"], body["country"]) == (
        "Grace Nakato", ACTIVE, "UG")
    assert body["corridor"] == "usdc-ugx"
    mismatch = save(partner_client, momo_corridor, UNKNOWN, name="Grace  Nakato ")
    assert mismatch.status_code == 201
    assert mismatch.json()["verification"] == "mismatch"
    assert mismatch.json()["name"] == "Grace Nakato"
    listed = partner_client.get("/api/v1/recipients").json()["results"]
    assert [r["id"] for r in listed] == [mismatch.json()["id"], body["id"]]
    assert partner_client.get(f"/api/v1/recipients/{body['id']}").json() == body
    with connection.cursor() as cursor:
        cursor.execute("SELECT details FROM recipients_recipient")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert "Nakato" not in stored
    assert "772123" not in stored


def test_a_rail_without_a_check_or_that_does_not_answer_cannot_verify(partner_client,
                                                                      momo_corridor):
    daraja_corridor = make_corridor(chain=make_chain(caip2="eip155:1", name="eth", chain_id=1))
    body = save(partner_client, daraja_corridor, "+254708374149").json()
    assert body["verification"] == "cannot_verify"  # Daraja has no account-holder check
    momo_corridor.rail.base_url = "http://127.0.0.1:9"
    momo_corridor.rail.save(update_fields=["base_url"])
    assert save(partner_client, momo_corridor, ACTIVE).json()["verification"] == "cannot_verify"


@pytest.mark.parametrize(("body", "status", "slug"), [
    ({"corridor": "usdc-ugx", "name": "Grace", "phone_number": "+254708374149"}, 422,
     "invalid-recipient"),
    ({"corridor": "usdc-ugx", "name": "Grace", "phone_number": "not a number"}, 422,
     "invalid-recipient"),
    ({"corridor": "usdc-ugx", "name": "   ", "phone_number": ACTIVE}, 400, "validation-error"),
    ({"corridor": "nowhere", "name": "Grace", "phone_number": ACTIVE}, 422, "unknown-corridor"),
    ({"corridor": "usdc-ugx", "phone_number": ACTIVE}, 400, "validation-error"),
])
def test_bad_recipients_are_problems_and_nothing_is_saved(partner_client, momo_corridor, body,
                                                          status, slug):
    response = partner_client.post("/api/v1/recipients", data=json.dumps(body),
                                   content_type="application/json")
    assert_problem(response, status, slug)
    assert Recipient.objects.count() == 0


def ugx_quote(partner, corridor):
    return make_quote(partner=partner, corridor=corridor, currency_out="UGX",
                      amount_out=Decimal("370000"), rate=Decimal("3737.37"))


def create_transfer(client, quote, **fields):
    return client.post("/api/v1/transfers", data=json.dumps(
        {"quote_id": str(quote.public_id), "sender": {"name": "Amina Odhiambo"}, **fields}),
        content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(quote.public_id))


def test_a_transfer_takes_a_saved_recipient_and_refuses_a_mismatch(partner_client,
                                                                   momo_corridor):
    partner = partner_client.partner
    good = save(partner_client, momo_corridor, ACTIVE).json()
    bad = save(partner_client, momo_corridor, UNKNOWN).json()
    refused = create_transfer(partner_client, quote := ugx_quote(partner, momo_corridor),
                              recipient_id=bad["id"])
    assert_problem(refused, 422, "recipient-verification-mismatch")
    assert Transfer.objects.count() == 0
    assert Quote.objects.get(pk=quote.pk).used_at is None
    made = create_transfer(partner_client, ugx_quote(partner, momo_corridor),
                           recipient_id=good["id"])
    assert made.status_code == 201, made.content
    transfer = Transfer.objects.get()
    assert transfer.recipient == {"name": "Grace Nakato", "phone_number": ACTIVE}
    # Deleting the saved recipient erases it; the transfer keeps its own copy.
    assert partner_client.delete(f"/api/v1/recipients/{good['id']}").status_code == 204
    assert_problem(partner_client.get(f"/api/v1/recipients/{good['id']}"), 404, "not-found")
    assert_problem(partner_client.delete(f"/api/v1/recipients/{good['id']}"), 404, "not-found")
    transfer.refresh_from_db()
    assert transfer.recipient["phone_number"] == ACTIVE
    assert_problem(create_transfer(partner_client, ugx_quote(partner, momo_corridor),
                                   recipient_id=good["id"]), 422, "unknown-recipient")


def test_recipient_and_recipient_id_are_one_or_the_other(partner_client, momo_corridor):
    partner = partner_client.partner
    saved = save(partner_client, momo_corridor, ACTIVE).json()
    both = create_transfer(partner_client, ugx_quote(partner, momo_corridor),
                           recipient_id=saved["id"],
                           recipient={"name": "Grace", "phone_number": ACTIVE})
    assert "recipient" in assert_problem(both, 400, "validation-error")["errors"]
    neither = create_transfer(partner_client, ugx_quote(partner, momo_corridor))
    assert "recipient" in assert_problem(neither, 400, "validation-error")["errors"]
    assert Transfer.objects.count() == 0


def test_another_partners_recipient_is_invisible(partner_client, momo_corridor):
    saved = save(partner_client, momo_corridor, ACTIVE).json()
    other, other_key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert client.get("/api/v1/recipients").json()["results"] == []
    assert_problem(client.get(f"/api/v1/recipients/{saved['id']}"), 404, "not-found")
    assert_problem(client.delete(f"/api/v1/recipients/{saved['id']}"), 404, "not-found")
    assert_problem(create_transfer(client, ugx_quote(other, momo_corridor),
                                   recipient_id=saved["id"]), 422, "unknown-recipient")
    assert Recipient.objects.count() == 1
