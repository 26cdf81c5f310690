"""Events: typed after the state a transfer moves to, carrying the transfer exactly as the API
shows it, numbered per transfer (sequence) and per partner (feed position), kept for the
retention period."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState
from gateway.webhooks.models import WebhookCounter, WebhookDelivery, WebhookEndpoint, WebhookEvent
from gateway.webhooks.selectors import CursorExpiredError, webhook_events_feed
from gateway.webhooks.services import (
    event_types,
    webhook_event_enqueue,
    webhook_events_cleanup,
)
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_transfer

S = TransferState
pytestmark = pytest.mark.django_db


def api_get(key: str, path: str) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.get(path)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def test_each_transition_is_a_typed_event_with_the_transfer_as_the_api_shows_it(
        django_capture_on_commit_callbacks):
    partner, key = make_partner()
    WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/hooks")
    transfer = make_transfer(partner=partner)
    for state in (S.DEPOSIT_SEEN, S.FUNDED, S.ON_HOLD, S.REJECTED):
        with django_capture_on_commit_callbacks(execute=False):
            transfer_transition(transfer_id=transfer.pk, to_state=state, reason="test")
        event = WebhookEvent.objects.order_by("-pk").first()
        shown = api_get(key, f"/api/v1/transfers/{transfer.public_id}")
        assert event.payload["data"] == shown
        assert event.payload["type"] == f"transfer.{state}"
    events = list(WebhookEvent.objects.filter(transfer_id=transfer.pk).order_by("pk"))
    assert [e.event_type for e in events] == [
        "transfer.deposit_seen", "transfer.funded", "transfer.on_hold", "transfer.rejected"]
    assert [e.sequence for e in events] == [e.payload["sequence"] for e in events] == [1, 2, 3, 4]
    assert [e.position for e in events] == [1, 2, 3, 4]
    assert [e.payload["data"]["status"] for e in events] == [
        "pending_sender", "pending_receiver", "on_hold", "error"]
    assert WebhookDelivery.objects.filter(event__in=events).count() == 4


def test_a_transfer_event_named_by_its_id_gets_the_transfers_next_sequence():
    partner, _ = make_partner()
    transfer = make_transfer(partner=partner)
    other = make_transfer(partner=partner, corridor=transfer.corridor)
    for public_id in (transfer.public_id, other.public_id, transfer.public_id):
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.created",
                              data={"id": str(public_id)})
    assert list(WebhookEvent.objects.order_by("pk").values_list(
        "transfer_id", "sequence", "position")) == [
        (transfer.pk, 1, 1), (other.pk, 1, 2), (transfer.pk, 2, 3)]


def test_every_state_has_an_event_type_and_endpoints_get_only_the_types_they_asked_for():
    assert {f"transfer.{state}" for state in S.values} <= set(event_types())
    assert {"transfer.created", "webhook.ping", "webhook_endpoint.disabled"} <= set(
        event_types())
    partner, _ = make_partner()
    everything = WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/a")
    completed_only = WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/b",
                                                    event_types=["transfer.completed"])
    WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/c", is_active=False)
    for event_type in ("transfer.funded", "transfer.completed"):
        webhook_event_enqueue(partner_id=partner.pk, event_type=event_type, data={})
    assert sorted(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == sorted([
        (everything.pk, "transfer.funded"), (everything.pk, "transfer.completed"),
        (completed_only.pk, "transfer.completed")])


def test_an_event_rolled_back_with_its_transaction_leaves_nothing_and_no_gap(
        django_capture_on_commit_callbacks):
    partner, _ = make_partner()
    WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/hooks")
    with (django_capture_on_commit_callbacks(execute=False) as callbacks,
          pytest.raises(RuntimeError), transaction.atomic()):
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
        raise RuntimeError("the transition failed")
    assert callbacks == []
    assert WebhookEvent.objects.count() == WebhookDelivery.objects.count() == 0
    webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
    assert WebhookEvent.objects.get().position == 1


def test_the_feed_pages_in_order_per_partner_and_filters_by_type():
    partner, key = make_partner()
    stranger, _ = make_partner()
    for n in range(5):
        webhook_event_enqueue(partner_id=partner.pk, data={"n": n},
                              event_type="transfer.funded" if n % 2 else "transfer.completed")
        webhook_event_enqueue(partner_id=stranger.pk, event_type="transfer.funded",
                              data={"stranger": n})
    first = api_get(key, "/api/v1/events?limit=2")
    assert [e["data"] for e in first["data"]] == [{"n": 0}, {"n": 1}]
    assert (first["next_cursor"], first["has_more"]) == ("2", True)
    rest = api_get(key, f"/api/v1/events?after={first['next_cursor']}")
    assert [e["data"] for e in rest["data"]] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert (rest["next_cursor"], rest["has_more"]) == ("5", False)
    empty = api_get(key, "/api/v1/events?after=5")
    assert (empty["data"], empty["next_cursor"], empty["has_more"]) == ([], "5", False)
    funded = api_get(key, "/api/v1/events?type=transfer.funded")
    assert [e["data"] for e in funded["data"]] == [{"n": 1}, {"n": 3}]
    assert all(e["id"].startswith("evt_") and e["timestamp"].endswith("Z")
               for e in first["data"] + rest["data"])


def test_retention_deletes_old_events_but_keeps_pending_ones_and_the_counters(settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    partner, key = make_partner()
    endpoint = WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/hooks")
    transfer = make_transfer(partner=partner)
    for _ in range(3):
        webhook_event_enqueue(partner_id=partner.pk, transfer_id=transfer.pk,
                              event_type="transfer.funded", data={})
    old = timezone.now() - timedelta(days=31)
    WebhookEvent.objects.update(created_at=old)
    WebhookDelivery.objects.filter(event__position__lte=2).update(
        status=WebhookDelivery.Status.DELIVERED)
    assert webhook_events_cleanup() == 2
    assert list(WebhookEvent.objects.values_list("position", flat=True)) == [3]
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    # Numbering goes on where it was; a reader behind the deleted events is told so.
    webhook_event_enqueue(partner_id=partner.pk, transfer_id=transfer.pk,
                          event_type="transfer.funded", data={})
    assert WebhookEvent.objects.order_by("-pk").values_list("position", "sequence")[0] == (4, 4)
    assert WebhookCounter.objects.get(key=f"transfer:{transfer.pk}").value == 4
    with pytest.raises(CursorExpiredError):
        webhook_events_feed(partner=partner, after=1)
    assert [e.position for e in webhook_events_feed(partner=partner, after=2)[0]] == [3, 4]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    gone = client.get("/api/v1/events?after=0")
    assert gone.status_code == 200
    expired = client.get("/api/v1/events?after=1")
    assert expired.status_code == 410
    assert expired["Content-Type"] == "application/problem+json"
    body = json.loads(expired.content)
    assert (body["type"], body["oldest_cursor"]) == ("/problems/cursor-expired", "2")


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=501", "limit=ten"])
def test_a_bad_feed_cursor_or_limit_is_a_problem_not_a_500(query):
    _, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.get(f"/api/v1/events?{query}")
    assert response.status_code == 400
    assert json.loads(response.content)["type"] == "/problems/validation-error"
