"""The self-service webhook API: endpoints, secrets, pings, deliveries, redelivery; problem
details for every refusal, and nothing written when refused."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from gateway.webhooks.services import webhook_delivery_send, webhook_event_enqueue
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_transfer

Status = WebhookDelivery.Status
PROBLEM = "application/problem+json"
pytestmark = pytest.mark.django_db


@pytest.fixture
def client(partner):
    from gateway.partners.services import partner_api_key_create

    _, key = partner_api_key_create(partner=partner, name="webhooks")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def call(client, method: str, path: str, body=None):
    response = getattr(client, method)(path, data=json.dumps(body) if body is not None else None,
                                       content_type="application/json")
    return response, (json.loads(response.content) if response.content else None)


def problem(response, body, status: int, slug: str) -> dict:
    assert response.status_code == status, body
    assert response["Content-Type"] == PROBLEM
    assert body["type"] == f"/problems/{slug}"
    return body


def create(client, receiver, **extra):
    response, body = call(client, "post", "/api/v1/webhook-endpoints",
                          {"url": receiver.url(), **extra})
    assert response.status_code == 201, body
    receiver.secrets.append(body["secret"])
    return body


# --- endpoints ------------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_stores_it_encrypted(client, receiver):
    body = create(client, receiver, event_types=["transfer.completed", "transfer.funded"],
                  description="orders service")
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["enabled"], body["event_types"], body["description"]) == (
        receiver.url(), True, ["transfer.completed", "transfer.funded"], "orders service")
    endpoint = WebhookEndpoint.objects.get(public_id=body["id"])
    assert endpoint.secret == body["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s",
                       [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert body["secret"] not in stored
    assert body["secret"][6:20] not in stored
    shown, again = call(client, "get", f"/api/v1/webhook-endpoints/{body['id']}")
    assert shown.status_code == 200
    assert "secret" not in again
    _listed, items = call(client, "get", "/api/v1/webhook-endpoints")
    assert [item["id"] for item in items] == [body["id"]]
    assert "secret" not in items[0]


@pytest.mark.parametrize(("url", "fragment"), [
    ("http://hooks.example.com/x", "must use https"),
    ("https://127.0.0.1/x", "not a public address"),
    ("https://10.1.2.3/x", "not a public address"),
    ("https://169.254.169.254/latest", "not a public address"),
    ("https://[::1]/x", "not a public address"),
    ("https://localhost/x", "is not a public address"),
    ("https://user:pw@hooks.example.com/x", "user name or password"),
    ("https://nothing.invalid/x", "does not resolve"),
    ("ftp://hooks.example.com/x", "must use https"),
    ("https:///nohost", "has no host"),
])
def test_a_url_refused_outside_demo_mode_is_a_problem_and_writes_nothing(client, settings, url,
                                                                         fragment):
    settings.WEBHOOK_REQUIRE_HTTPS = True
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response, body = call(client, "post", "/api/v1/webhook-endpoints", {"url": url})
    assert fragment in problem(response, body, 422, "webhook-endpoint-invalid")["detail"]
    assert WebhookEndpoint.objects.count() == 0


@hypothesis_settings(max_examples=60, deadline=None)
@given(address=st.ip_addresses())
def test_an_ip_address_is_accepted_exactly_when_it_is_global(address):
    from django.test import override_settings

    from gateway.webhooks.client import address_is_public
    from gateway.webhooks.services import InvalidWebhookEndpointError
    from gateway.webhooks.services.endpoints import webhook_url_validate

    host = f"[{address}]" if address.version == 6 else str(address)
    mapped = getattr(address, "ipv4_mapped", None)
    expected = (mapped or address).is_global and not (mapped or address).is_multicast
    assert address_is_public(str(address)) is expected
    with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False, WEBHOOK_REQUIRE_HTTPS=True):
        if expected:
            assert webhook_url_validate(f"https://{host}/hook") == f"https://{host}/hook"
        else:
            with pytest.raises(InvalidWebhookEndpointError):
                webhook_url_validate(f"https://{host}/hook")


def test_bad_fields_are_problems_and_write_nothing(client, receiver, settings):
    response, body = call(client, "post", "/api/v1/webhook-endpoints", {})
    assert "url" in problem(response, body, 400, "validation-error")["errors"]
    response, body = call(client, "post", "/api/v1/webhook-endpoints",
                          {"url": receiver.url(), "event_types": ["transfer.teleported"]})
    assert "transfer.teleported" in problem(response, body, 422,
                                            "webhook-endpoint-invalid")["detail"]
    settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER = 1
    create(client, receiver)
    response, body = call(client, "post", "/api/v1/webhook-endpoints", {"url": receiver.url()})
    assert "at most 1" in problem(response, body, 422, "webhook-endpoint-invalid")["detail"]
    assert WebhookEndpoint.objects.count() == 1


def test_another_partners_endpoint_is_not_found_and_a_key_is_required(client, receiver):
    stranger, _ = make_partner()
    theirs = WebhookEndpoint.objects.create(partner=stranger, url=receiver.url())
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/test"),
                           ("post", "/rotate-secret"), ("get", "/deliveries")):
        response, body = call(client, method, f"/api/v1/webhook-endpoints/{theirs.public_id}"
                                              f"{suffix}", {} if method != "get" else None)
        problem(response, body, 404, "not-found")
    response, body = call(APIClient(), "get", "/api/v1/webhook-endpoints")
    problem(response, body, 401, "unauthenticated")
    theirs.refresh_from_db()
    assert theirs.is_active
    assert WebhookDelivery.objects.count() == 0


def test_patch_disables_and_enables_and_delete_removes(client, receiver):
    created = create(client, receiver)
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    response, body = call(client, "patch", path, {"enabled": False,
                                                  "event_types": ["transfer.refunded"]})
    assert response.status_code == 200
    assert (body["enabled"], body["event_types"]) == (False, ["transfer.refunded"])
    endpoint = WebhookEndpoint.objects.get(public_id=created["id"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_reason="410 Gone")
    response, body = call(client, "patch", path, {"enabled": True})
    assert (body["enabled"], body["disabled_reason"], body["disabled_at"]) == (True, "", None)
    response, body = call(client, "patch", path, {"url": "ftp://x"})
    problem(response, body, 422, "webhook-endpoint-invalid")
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == receiver.url()
    response, _ = call(client, "delete", path)
    assert response.status_code == 204
    problem(*call(client, "get", path), 404, "not-found")


def test_rotate_secret_returns_a_new_one_and_the_old_signs_during_the_grace(client, receiver,
                                                                         partner):
    created = create(client, receiver)
    path = f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret"
    problem(*call(client, "post", path, {"grace_period_seconds": 10**9}), 422,
            "webhook-endpoint-invalid")
    response, body = call(client, "post", path, {"grace_period_seconds": 600})
    assert response.status_code == 200
    assert body["secret"] != created["secret"]
    assert body["secret"].startswith("whsec_")
    expires = timezone.datetime.fromisoformat(body["previous_secret_expires_at"])
    assert timedelta(seconds=590) < expires - timezone.now() <= timedelta(seconds=600)
    receiver.secrets[:] = [created["secret"]]
    [pk] = webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
    assert webhook_delivery_send(delivery_id=pk).status == Status.DELIVERED
    receiver.secrets[:] = [body["secret"]]
    [pk] = webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
    assert webhook_delivery_send(delivery_id=pk).status == Status.DELIVERED


# --- pings and deliveries -------------------------------------------------------------------


def test_test_sends_a_ping_to_that_endpoint_only_and_not_to_the_feed(client, receiver):
    created = create(client, receiver, event_types=["transfer.completed"])
    other = create(client, receiver)
    response, body = call(client, "post", f"/api/v1/webhook-endpoints/{created['id']}/test")
    assert response.status_code == 202
    assert (body["event_type"], body["status"], body["attempts"]) == ("webhook.ping", "pending",
                                                                      0)
    delivery = WebhookDelivery.objects.get(message_id=body["id"])
    webhook_delivery_send(delivery_id=delivery.pk)
    [request] = receiver.requests
    assert request.payload["type"] == "webhook.ping"
    assert request.payload["data"]["endpoint_id"] == created["id"]
    assert WebhookDelivery.objects.filter(endpoint__public_id=other["id"]).count() == 0
    assert WebhookEvent.objects.get().position is None
    _, feed = call(client, "get", "/api/v1/events")
    assert feed["data"] == []
    call(client, "patch", f"/api/v1/webhook-endpoints/{created['id']}", {"enabled": False})
    problem(*call(client, "post", f"/api/v1/webhook-endpoints/{created['id']}/test"), 409,
            "webhook-endpoint-disabled")


def test_deliveries_list_filters_and_shows_the_last_answer(client, receiver, partner):
    created = create(client, receiver)
    transfer = make_transfer(partner=partner)
    ids = [webhook_event_enqueue(partner_id=partner.pk, event_type=event_type,
                                 transfer_id=transfer_id, data={})[0]
           for event_type, transfer_id in (("transfer.funded", transfer.pk),
                                           ("transfer.completed", transfer.pk),
                                           ("transfer.refunded", None))]
    receiver.reply(503, b"maintenance")
    webhook_delivery_send(delivery_id=ids[0])
    WebhookDelivery.objects.filter(pk=ids[1]).update(created_at=timezone.now()
                                                     - timedelta(days=2))
    base = f"/api/v1/webhook-endpoints/{created['id']}/deliveries"
    _, page = call(client, "get", f"{base}?status=pending&limit=2")
    assert [d["event_type"] for d in page["data"]] == ["transfer.refunded", "transfer.completed"]
    assert page["next_cursor"] is not None
    _, rest = call(client, "get", f"{base}?status=pending&before={page['next_cursor']}")
    [failed_once] = rest["data"]
    assert (failed_once["event_type"], failed_once["attempts"], failed_once["last_status_code"],
            failed_once["last_error"], failed_once["sequence"]) == (
        "transfer.funded", 1, 503, "maintenance", 1)
    assert rest["next_cursor"] is None
    _, by_transfer = call(client, "get", f"{base}?transfer_id={transfer.public_id}")
    assert [d["sequence"] for d in by_transfer["data"]] == [2, 1]
    _, by_type = call(client, "get", f"{base}?event_type=transfer.refunded")
    assert [d["event_type"] for d in by_type["data"]] == ["transfer.refunded"]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    _, recent = call(client, "get", f"{base}?since={since.replace('+', '%2B')}")
    assert len(recent["data"]) == 2
    problem(*call(client, "get", f"{base}?status=lost"), 400, "validation-error")
    problem(*call(client, "get", f"{base}?since=yesterday"), 400, "validation-error")


def test_redeliver_sends_the_same_message_again_and_never_doubles_one_in_flight(
        client, receiver, partner, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    created = create(client, receiver)
    [pk] = webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
    receiver.reply(500)
    failed = webhook_delivery_send(delivery_id=pk)
    assert failed.status == Status.FAILED
    path = (f"/api/v1/webhook-endpoints/{created['id']}/deliveries/{failed.message_id}"
            f"/redeliver")
    response, body = call(client, "post", path)
    assert response.status_code == 202
    assert (body["status"], body["attempts"]) == ("pending", 1)
    # While that attempt is in flight, asking again is refused.
    from gateway.webhooks.services import webhook_deliveries_claim

    [claim] = webhook_deliveries_claim(delivery_ids=[pk])
    problem(*call(client, "post", path), 409, "webhook-delivery-in-flight")
    from gateway.webhooks.services import webhook_claim_send

    assert webhook_claim_send(claim) == "delivered"
    assert receiver.message_ids() == [failed.message_id] * 2
    problem(*call(client, "post", path.replace(failed.message_id, "msg_nope")), 404,
            "not-found")


def test_redeliver_failed_since_requeues_only_failed_ones_after_the_moment(client, receiver,
                                                                          partner):
    created = create(client, receiver)
    ids = [webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded",
                                 data={"n": n})[0] for n in range(4)]
    WebhookDelivery.objects.filter(pk__in=ids[:3]).update(status=Status.FAILED, attempts=12,
                                                          max_attempts=12)
    WebhookDelivery.objects.filter(pk=ids[0]).update(created_at=timezone.now()
                                                     - timedelta(days=3))
    path = f"/api/v1/webhook-endpoints/{created['id']}/deliveries/redeliver-failed"
    problem(*call(client, "post", path, {"since": "soon"}), 400, "validation-error")
    since = (timezone.now() - timedelta(days=1)).isoformat()
    response, body = call(client, "post", path, {"since": since})
    assert (response.status_code, body) == (202, {"redelivering": 2})
    assert sorted(WebhookDelivery.objects.filter(status=Status.PENDING).values_list(
        "pk", "max_attempts")) == sorted([(ids[1], 13), (ids[2], 13), (ids[3], 12)])
    assert WebhookDelivery.objects.get(pk=ids[0]).status == Status.FAILED


def test_the_schema_documents_the_webhooks_and_their_examples(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    schema = json.loads(response.content)
    assert schema["openapi"] == "3.1.0"
    assert set(schema["webhooks"]) == {"transfer", "webhook.ping", "webhook_endpoint.disabled"}
    transfer = schema["webhooks"]["transfer"]["post"]
    content = transfer["requestBody"]["content"]["application/json"]
    assert {example["value"]["type"] for example in content["examples"].values()} == {
        "transfer.created", "transfer.completed", "transfer.payout_failed",
        "transfer.refunded", "transfer.on_hold", "transfer.funded"}
    assert content["schema"] == {"$ref": "#/components/schemas/TransferEvent"}
    event = schema["components"]["schemas"]["TransferEvent"]["properties"]
    assert event["data"]["allOf"] == [{"$ref": "#/components/schemas/TransferResponse"}]
    assert "transfer.payout_failed" in transfer["description"]
    assert {"/api/v1/webhook-endpoints", "/api/v1/events",
            "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"} <= set(schema["paths"])
