"""KYC documents: checked by content, stored encrypted, reviewed with a webhook to the partner."""

import base64
import json
import struct
import zlib

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from compliance.kyc import services
from compliance.kyc.documents import (
    JPEG,
    PDF,
    PNG,
    DocumentRejectedError,
    DocumentTooLargeError,
    document_check,
)
from compliance.kyc.models import Customer, CustomerDocument, KycTier
from gateway.webhooks.models import WebhookEndpoint, WebhookEvent
from tests.gateway.partners.factories import make_partner

PROBLEM = "application/problem+json"


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + b"\x7f\x10\x10" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + \
        b"\x00" * 64 + b"\xff\xd9"


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_whole_files_are_recognised_by_their_content():
    assert document_check(content=png(), filename="id.png") == PNG
    assert document_check(content=jpeg(), filename="ID.JPEG", declared_type="image/jpeg") == JPEG
    assert document_check(content=pdf(), filename="bill.pdf",
                          declared_type="application/pdf; charset=binary") == PDF
    assert document_check(content=png(), filename="", declared_type="") == PNG


@pytest.mark.parametrize(("content", "filename", "declared"), [
    (b"MZ\x90\x00" + b"\x00" * 200, "passport.jpg", "image/jpeg"),  # a program named .jpg
    (png()[:-12], "id.png", "image/png"),  # truncated: no IEND
    (jpeg()[:-2], "id.jpg", "image/jpeg"),  # no end-of-image marker
    (b"%PDF-1.4\n" + b"x" * 2000, "bill.pdf", "application/pdf"),  # no %%EOF
    (png(), "id.pdf", ""),  # the name says another type
    (pdf(), "bill.pdf", "image/png"),  # the declared type says another
    (b"", "empty.png", "image/png"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "id.svg", "image/svg+xml"),
])
def test_anything_else_is_refused(content, filename, declared):
    with pytest.raises(DocumentRejectedError):
        document_check(content=content, filename=filename, declared_type=declared)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_are_never_taken_for_a_document(content):
    with pytest.raises(DocumentRejectedError):
        document_check(content=b"\x00" + content, filename="scan.jpg")


def test_a_file_over_the_limit_is_too_large(settings):
    settings.KYC_DOCUMENT_MAX_BYTES = 100
    with pytest.raises(DocumentTooLargeError):
        document_check(content=pdf() + b" " * 100, filename="bill.pdf")


# --- through the API ----------------------------------------------------------------------------


@pytest.fixture
def world(db):
    KycTier.objects.create(code="standard", name="Standard", level=2,
                           natural_person_fields=["first_name", "last_name"])
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.put("/api/v1/customers", data=json.dumps({
        "external_id": "c-1", "type": "sender", "tier": "standard",
        "fields": {"first_name": "Amina", "last_name": "Odhiambo",
                   "email_address": "amina@example.com"}}), content_type="application/json")
    assert response.status_code == 202, response.content
    customer = Customer.objects.get(public_id=response.json()["id"])
    WebhookEndpoint.objects.create(partner=partner, url="https://hooks.example.com/kyc",
                                   secret="whsec_" + "a" * 32)
    return client, partner, customer


def upload(client, customer, content: bytes, *, name="id.png", kind="photo_id_front",
           content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(f"/api/v1/customers/{customer.public_id}/documents",
                       data={"kind": kind, "file": SimpleUploadedFile(name, content,
                                                                      content_type)},
                       format="multipart")


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def test_an_upload_is_stored_encrypted_and_shown_with_its_review_status(world):
    client, _partner, customer = world
    content = png()
    response = upload(client, customer, content)
    assert response.status_code == 201, response.content
    shown = response.json()
    assert (shown["kind"], shown["content_type"], shown["size_bytes"], shown["status"]) == (
        "photo_id_front", "image/png", len(content), "processing")
    assert "content" not in shown
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM kyc_customerdocument WHERE public_id = %s",
                       [shown["id"]])
        stored = cursor.fetchone()[0]
    assert base64.b64encode(content).decode() not in stored
    assert b"IHDR" not in stored.encode()
    document = CustomerDocument.objects.get(public_id=shown["id"])
    assert services.customer_document_content(document=document) == content

    customer_view = client.get(f"/api/v1/customers?id={customer.public_id}").json()
    assert [(d["id"], d["status"]) for d in customer_view["documents"]] == [
        (shown["id"], "processing")]
    listed = client.get(f"/api/v1/customers/{customer.public_id}/documents").json()
    assert [d["id"] for d in listed] == [shown["id"]]
    one = client.get(f"/api/v1/customers/{customer.public_id}/documents/{shown['id']}")
    assert one.json()["status"] == "processing"

    again = upload(client, customer, content)
    assert again.status_code == 200
    assert again.json()["id"] == shown["id"]
    assert CustomerDocument.objects.count() == 1


@pytest.mark.parametrize(("content", "name", "content_type", "status", "slug"), [
    (b"MZ\x90\x00" + b"\x00" * 64, "id.jpg", "image/jpeg", 422, "document-rejected"),
    (png(), "id.exe", "image/png", 422, "document-rejected"),
    (png()[:-12], "id.png", "image/png", 422, "document-rejected"),
])
def test_a_bad_file_is_a_problem_and_nothing_is_stored(world, content, name, content_type,
                                                       status, slug):
    client, _partner, customer = world
    before = customer.events.count()
    assert_problem(upload(client, customer, content, name=name, content_type=content_type),
                   status, slug)
    assert not CustomerDocument.objects.exists()
    assert customer.events.count() == before


def test_a_file_over_the_limit_is_413_and_nothing_is_stored(world, settings):
    settings.KYC_DOCUMENT_MAX_BYTES = 64
    client, _partner, customer = world
    body = assert_problem(upload(client, customer, png(width=40)), 413, "document-too-large")
    assert body["max_bytes"] == 64
    assert not CustomerDocument.objects.exists()


def test_malformed_requests_are_problems(world):
    client, _partner, customer = world
    base = f"/api/v1/customers/{customer.public_id}/documents"
    assert_problem(client.post(base, data=json.dumps({"kind": "photo_id_front"}),
                               content_type="application/json"), 415, "unsupported-media-type")
    assert_problem(client.post(base, data={"kind": "photo_id_front"}, format="multipart"), 400,
                   "validation-error")
    assert_problem(upload(client, customer, png(), kind="tax_return"), 400, "validation-error")
    assert_problem(client.post(base, data=b"--x\r\nbroken", content_type="multipart/form-data; "
                                                                        "boundary=x"),
                   400, "validation-error")
    _other, other_key = make_partner()
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert_problem(upload(stranger, customer, png()), 404, "not-found")
    assert_problem(client.get(f"/api/v1/customers/{customer.public_id}/documents/nope"), 404,
                   "not-found")
    assert not CustomerDocument.objects.exists()


def test_a_review_is_told_to_the_partner_without_personal_data(world):
    client, partner, customer = world
    document_id = upload(client, customer, png()).json()["id"]
    document = CustomerDocument.objects.get(public_id=document_id)
    services.customer_document_review(document=document, accept=False, operator="ops",
                                      message="The photo is blurred; send a sharper one.")
    shown = client.get(f"/api/v1/customers/{customer.public_id}/documents/{document_id}").json()
    assert (shown["status"], shown["status_message"]) == (
        "rejected", "The photo is blurred; send a sharper one.")
    event = WebhookEvent.objects.get(partner=partner, event_type="customer.document_reviewed")
    data = event.payload["data"]
    assert data["document"]["id"] == document_id
    assert data["document"]["status"] == "rejected"
    assert data["customer"]["id"] == str(customer.public_id)
    text = json.dumps(event.payload)
    assert "Amina" not in text
    assert "amina@example.com" not in text
    assert event.deliveries.count() == 1

    services.customer_review(customer=customer, accept=True, operator="ops")
    changed = WebhookEvent.objects.filter(partner=partner, event_type="customer.status_changed")
    # Complete fields put it in processing (the fixture), then the operator accepted it.
    assert [event.payload["data"]["status"] for event in changed.order_by("position")] == [
        "processing", "accepted"]


def test_a_failed_callback_leaves_no_half_written_upload(world, settings):
    _client, partner, customer = world
    services.customer_review(customer=customer, accept=True, operator="ops")
    settings.KYC_STATUS_HOOK = "tests.compliance.kyc.test_documents.hook_that_fails"
    with pytest.raises(RuntimeError):
        services.customer_document_upload(partner=partner, customer_id=str(customer.public_id),
                                          kind="photo_id_front", content=png(),
                                          filename="id.png")
    customer.refresh_from_db()
    assert customer.status == Customer.Status.ACCEPTED
    assert not CustomerDocument.objects.exists()


def hook_that_fails(**_ids):
    raise RuntimeError("webhook store down")
