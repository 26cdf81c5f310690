"""Resending webhooks from the admin: one delivery, every failed delivery of an endpoint since a
date, or a transfer's failed ones; through the webhooks services, with
``webhooks.resend_delivery`` (support and admin), a reason, and an audit event."""

import datetime

import pytest
from django.utils import timezone

from gateway.console.models import AuditEvent
from gateway.transfers.states import TransferState
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.services import webhook_event_enqueue
from tests.gateway.transfers.factories import make_transfer

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status
REASON = "partner fixed their endpoint"


@pytest.fixture
def failed():
    """A transfer with three deliveries to one endpoint: two failed (one of them old), one
    delivered."""
    transfer = make_transfer(state=TransferState.COMPLETED)
    endpoint = WebhookEndpoint.objects.create(partner=transfer.partner,
                                              url="https://hooks.example.com/offramp")
    ids = [webhook_event_enqueue(partner_id=transfer.partner_id, event_type=event_type,
                                 data={}, transfer_id=transfer.pk)[0]
           for event_type in ("transfer.funded", "transfer.converted", "transfer.completed")]
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=ids[0]).update(
        status=Status.FAILED, attempts=12, max_attempts=12,
        created_at=now - datetime.timedelta(days=10))
    WebhookDelivery.objects.filter(pk=ids[1]).update(status=Status.FAILED, attempts=12,
                                                     max_attempts=12)
    WebhookDelivery.objects.filter(pk=ids[2]).update(status=Status.DELIVERED, attempts=1)
    return transfer, endpoint, [WebhookDelivery.objects.get(pk=pk) for pk in ids]


def post_action(client, url: str, action: str, pk: int, **extra):
    listing = client.get(url)
    offered = f'value="{action}"' in listing.content.decode()
    response = client.post(url, {"action": action, "_selected_action": [pk], "confirm": "yes",
                                 "reason": REASON, **extra})
    return offered, response


def statuses(deliveries) -> list[str]:
    return [WebhookDelivery.objects.get(pk=delivery.pk).status for delivery in deliveries]


@pytest.mark.parametrize(("role", "allowed"), [
    ("support", True), ("admin", True), ("compliance", False), ("treasury", False)])
def test_resending_one_delivery_needs_resend_delivery(operator_client, failed, role, allowed):
    transfer, _, deliveries = failed
    client = operator_client("operator", roles=[role])
    offered, response = post_action(client, "/admin/webhooks/webhookdelivery/",
                                    "resend_delivery", deliveries[1].pk)
    assert offered is allowed
    if not allowed:
        assert statuses(deliveries) == [Status.FAILED, Status.FAILED, Status.DELIVERED]
        assert not AuditEvent.objects.filter(action="webhooks.resend_delivery",
                                             outcome="done").exists()
        return
    assert response.status_code == 302
    resent = WebhookDelivery.objects.get(pk=deliveries[1].pk)
    assert (resent.status, resent.attempts, resent.max_attempts) == (Status.PENDING, 12, 13)
    assert resent.message_id == deliveries[1].message_id  # the same message, sent again
    assert resent.next_attempt_at <= timezone.now()
    assert statuses([deliveries[0], deliveries[2]]) == [Status.FAILED, Status.DELIVERED]
    event = AuditEvent.objects.get(action="webhooks.resend_delivery")
    assert (event.actor_username, event.reason, event.subject_reference, event.before["status"],
            event.after["status"]) == ("operator", REASON, transfer.reference, "failed",
                                       "pending")


def test_resending_failed_deliveries_of_an_endpoint_since_a_date(operator_client, failed):
    _, endpoint, deliveries = failed
    client = operator_client("desk", roles=["support"])
    since = (timezone.localdate() - datetime.timedelta(days=2)).isoformat()
    offered, response = post_action(client, "/admin/webhooks/webhookendpoint/",
                                    "resend_failed_since", endpoint.pk, since=since)
    assert offered
    assert response.status_code == 302
    # the one created ten days ago stays failed; the delivered one is not sent again
    assert statuses(deliveries) == [Status.FAILED, Status.PENDING, Status.DELIVERED]
    event = AuditEvent.objects.get(action="webhooks.resend_failed_since")
    assert event.detail.startswith("1 failed deliveries since")
    assert event.reason == REASON


@pytest.mark.parametrize("since", ["yesterday", "2026-13-40", "2999-01-01", ""])
def test_a_bad_or_future_date_resends_nothing_and_says_why(operator_client, failed, since):
    _, endpoint, deliveries = failed
    client = operator_client("desk", roles=["support"])
    _, response = post_action(client, "/admin/webhooks/webhookendpoint/",
                              "resend_failed_since", endpoint.pk, since=since)
    assert response.status_code == 302
    messages = [str(message) for message in response.wsgi_request._messages]
    assert any("'since'" in message for message in messages), messages
    assert statuses(deliveries) == [Status.FAILED, Status.FAILED, Status.DELIVERED]
    assert AuditEvent.objects.get(action="webhooks.resend_failed_since").outcome == "failed"


def test_a_transfers_failed_webhooks_are_resent_from_the_transfer_list(operator_client,
                                                                         failed):
    transfer, _, deliveries = failed
    client = operator_client("desk", roles=["support"])
    page = client.get(f"/admin/transfers/transfer/{transfer.pk}/change/").content.decode()
    assert f"/admin/webhooks/webhookdelivery/?transfer_id={transfer.pk}" in page
    listing = client.get(f"/admin/webhooks/webhookdelivery/?transfer_id={transfer.pk}")
    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 3
    offered, response = post_action(client, "/admin/transfers/transfer/",
                                    "resend_failed_webhooks", transfer.pk)
    assert offered
    assert response.status_code == 302
    assert statuses(deliveries) == [Status.PENDING, Status.PENDING, Status.DELIVERED]
    assert AuditEvent.objects.get(action="transfers.resend_failed_webhooks").detail == \
        "2 failed webhook deliveries resent"
    # nothing failed any more: a second try says so and changes nothing
    _, response = post_action(client, "/admin/transfers/transfer/", "resend_failed_webhooks",
                              transfer.pk)
    assert AuditEvent.objects.filter(action="transfers.resend_failed_webhooks",
                                     outcome="failed").count() == 1
