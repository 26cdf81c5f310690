"""Delivery to a real loopback receiver that verifies every message with ``standardwebhooks``:
claims, retries on schedule, order, limits, address rules, and nothing sent twice."""

import random
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.webhooks import tasks
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from gateway.webhooks.services import (
    ENDPOINT_DISABLED,
    retry_delay,
    retry_delay_nominal,
    webhook_claim_send,
    webhook_deliveries_claim,
    webhook_deliveries_due,
    webhook_delivery_send,
    webhook_endpoint_secret_rotate,
    webhook_event_enqueue,
    webhook_sign,
)
from tests.gateway.transfers.factories import make_transfer

Status = WebhookDelivery.Status
pytestmark = pytest.mark.django_db


def enqueue(endpoint, data=None, *, event_type="transfer.completed", transfer_id=None):
    [pk] = [pk for pk in webhook_event_enqueue(
        partner_id=endpoint.partner_id, event_type=event_type, transfer_id=transfer_id,
        data=data or {"note": "x"}) if WebhookDelivery.objects.get(pk=pk).endpoint_id
        == endpoint.pk]
    return WebhookDelivery.objects.get(pk=pk)


def make_due(delivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


# --- what arrives ---------------------------------------------------------------------------


def test_a_delivery_arrives_signed_and_is_recorded_once(receiver, endpoint):
    delivery = enqueue(endpoint, {"amount": "12.50"})
    sent = webhook_delivery_send(delivery_id=delivery.pk)

    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.payload == delivery.event.payload
    assert request.payload["type"] == "transfer.completed"
    assert request.payload["data"] == {"amount": "12.50"}
    assert request.payload["id"] == f"evt_{delivery.event.public_id.hex}"
    assert request.headers["webhook-id"] == delivery.message_id
    assert request.headers["content-type"] == "application/json"
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert (sent.status, sent.attempts, sent.last_status_code, sent.last_error) == (
        Status.DELIVERED, 1, 204, "")
    assert sent.claimed_until is None
    assert sent.claim_token is None
    # Asked again, nothing more is sent.
    assert webhook_delivery_send(delivery_id=delivery.pk).attempts == 1
    assert len(receiver.requests) == 1


def test_a_receiver_with_another_secret_rejects_it_and_the_delivery_stays_pending(receiver,
                                                                                  partner):
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=receiver.url())
    receiver.secrets.append("whsec_" + "B" * 43)
    sent = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert receiver.requests[0].payload is None
    assert (sent.status, sent.last_status_code, sent.last_error) == (Status.PENDING, 401,
                                                                     "bad sig")


def test_webhook_sign_matches_the_reference_library_and_carries_two_signatures_in_rotation():
    from standardwebhooks.webhooks import Webhook

    old, new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_" + "C" * 43
    moment = timezone.now()
    headers = webhook_sign(secret=new, previous_secret=old, message_id="msg_1",
                           body='{"a":1}', timestamp=moment)
    first, second = headers["webhook-signature"].split(" ")
    assert first == Webhook(new).sign(msg_id="msg_1", timestamp=moment, data='{"a":1}')
    assert second == Webhook(old).sign(msg_id="msg_1", timestamp=moment, data='{"a":1}')
    assert Webhook(old).verify('{"a":1}', headers) == {"a": 1}
    assert Webhook(new).verify('{"a":1}', headers) == {"a": 1}


def test_after_a_rotation_both_secrets_verify_until_the_grace_period_ends(receiver, endpoint):
    old_secret = endpoint.secret
    endpoint = webhook_endpoint_secret_rotate(endpoint=endpoint, grace_seconds=3600)
    receiver.secrets[:] = [old_secret]
    assert webhook_delivery_send(delivery_id=enqueue(endpoint).pk).status == Status.DELIVERED
    receiver.secrets[:] = [endpoint.secret]
    assert webhook_delivery_send(delivery_id=enqueue(endpoint).pk).status == Status.DELIVERED
    assert [len(r.headers["webhook-signature"].split(" ")) for r in receiver.requests] == [2, 2]

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    receiver.secrets[:] = [old_secret]
    late = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert (late.status, late.last_status_code) == (Status.PENDING, 401)
    assert len(receiver.requests[-1].headers["webhook-signature"].split(" ")) == 1


# --- retries keep their schedule ------------------------------------------------------------


def test_the_nominal_schedule_spans_about_a_day():
    delays = [retry_delay_nominal(attempt=n) for n in range(1, 12)]
    assert delays == [5, 15, 45, 135, 405, 1215, 3645, 10935, 21600, 21600, 21600]
    assert sum(delays) == 81200  # 22.6 hours over 12 attempts


@hypothesis_settings(max_examples=200, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=60), seed=st.integers())
def test_jitter_stays_within_a_fifth_of_the_nominal_delay(attempt, seed):
    nominal = retry_delay_nominal(attempt=attempt)
    delay = retry_delay(attempt=attempt, rng=random.Random(seed))
    assert 0.8 * nominal <= delay <= 1.2 * nominal
    assert nominal <= 21600
    assert retry_delay_nominal(attempt=attempt + 1) >= nominal


def test_a_failed_attempt_is_retried_when_due_and_not_a_moment_earlier(receiver, endpoint):
    delivery = enqueue(endpoint)
    receiver.reply(500, b"receiver broke")
    before = timezone.now()
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    assert (sent.status, sent.attempts, sent.last_status_code, sent.last_error) == (
        Status.PENDING, 1, 500, "receiver broke")
    assert before + timedelta(seconds=4) <= sent.next_attempt_at <= (
        timezone.now() + timedelta(seconds=6))
    # Whoever asks before it is due (a re-drive, a duplicate message) sends nothing.
    assert webhook_delivery_send(delivery_id=delivery.pk).attempts == 1
    assert webhook_deliveries_due() == []
    assert len(receiver.requests) == 1

    make_due(delivery)
    assert webhook_deliveries_due() == [delivery.pk]
    again = webhook_delivery_send(delivery_id=delivery.pk)
    assert (again.status, again.attempts) == (Status.DELIVERED, 2)
    assert receiver.message_ids() == [delivery.message_id] * 2
    assert receiver.requests[1].payload == delivery.event.payload


def test_the_delivery_fails_after_its_last_attempt_and_is_never_sent_again(receiver, endpoint,
                                                                           settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    delivery = enqueue(endpoint)
    for attempt in range(1, 5):
        receiver.reply(503)
        sent = webhook_delivery_send(delivery_id=delivery.pk)
        assert sent.attempts == attempt
        make_due(delivery)
    assert (sent.status, sent.attempts) == (Status.FAILED, 4)
    assert webhook_delivery_send(delivery_id=delivery.pk).attempts == 4
    assert len(receiver.requests) == 4
    assert webhook_deliveries_due() == []


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(receiver, endpoint):
    receiver.reply(302)
    sent = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert [r.path for r in receiver.requests] == ["/hooks"]
    assert (sent.status, sent.last_status_code) == (Status.PENDING, 302)


def test_an_unreachable_or_slow_endpoint_is_retried_later(receiver, endpoint, settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.2
    receiver.delay = 1.0
    started = time.monotonic()
    slow = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert time.monotonic() - started < 0.9
    assert (slow.status, slow.attempts) == (Status.PENDING, 1)
    assert slow.last_error.startswith("ReadTimeout: ")

    receiver.stop()
    gone = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert (gone.status, gone.last_status_code) == (Status.PENDING, None)
    assert gone.last_error.startswith("ConnectionError: ")


# --- endpoints that stop working ------------------------------------------------------------


def test_410_gone_disables_the_endpoint_and_the_partner_hears_of_it_elsewhere(receiver,
                                                                             endpoint, partner):
    other_receiver_endpoint = WebhookEndpoint.objects.create(partner=partner,
                                                             url=receiver.url("/other"))
    receiver.secrets.append(other_receiver_endpoint.secret)
    first = enqueue(endpoint)
    waiting = enqueue(endpoint)
    receiver.reply(410, b"gone")
    sent = webhook_delivery_send(delivery_id=first.pk)
    endpoint.refresh_from_db()
    assert sent.status == Status.FAILED
    assert (endpoint.is_active, endpoint.disabled_reason) == (
        False, "The endpoint answered 410 Gone.")
    # Its other pending delivery waits (it is not sent while the endpoint is disabled).
    assert webhook_delivery_send(delivery_id=waiting.pk).attempts == 0
    notice = WebhookEvent.objects.get(event_type=ENDPOINT_DISABLED)
    assert notice.payload["data"]["id"] == str(endpoint.public_id)
    assert notice.payload["data"]["disabled_reason"] == "The endpoint answered 410 Gone."
    [told] = WebhookDelivery.objects.filter(event=notice)
    assert told.endpoint_id == other_receiver_endpoint.pk
    webhook_delivery_send(delivery_id=told.pk)
    assert [r.path for r in receiver.requests] == ["/hooks", "/other"]
    assert receiver.requests[-1].payload["type"] == ENDPOINT_DISABLED


def test_an_endpoint_failing_for_days_is_disabled_with_its_reason_and_a_success_resets(
        receiver, endpoint, settings):
    settings.WEBHOOK_ENDPOINT_DISABLE_AFTER_SECONDS = 3 * 86400
    receiver.reply(500, b"down")
    webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.failing_since is not None
    webhook_delivery_send(delivery_id=enqueue(endpoint).pk)  # a success ends the streak
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None

    since = timezone.now() - timedelta(days=3, seconds=1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=since)
    receiver.reply(503, b"still down")
    webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    endpoint.refresh_from_db()
    assert endpoint.is_active is False
    assert endpoint.disabled_reason == (
        f"No successful delivery since {since.isoformat()} (last: 503 still down).")
    assert WebhookEvent.objects.filter(event_type=ENDPOINT_DISABLED).count() == 1


# --- claims ---------------------------------------------------------------------------------


def test_a_claim_abandoned_by_a_crashed_worker_is_taken_over_after_its_lease(receiver,
                                                                            endpoint):
    delivery = enqueue(endpoint)
    [abandoned] = webhook_deliveries_claim(delivery_ids=[delivery.pk])  # the worker dies here
    assert webhook_deliveries_claim(delivery_ids=[delivery.pk]) == []
    assert webhook_delivery_send(delivery_id=delivery.pk).attempts == 1
    assert receiver.requests == []

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1))
    receiver.reply(500)
    taken = webhook_delivery_send(delivery_id=delivery.pk)
    assert (taken.status, taken.attempts, taken.last_status_code) == (Status.PENDING, 2, 500)
    # The first worker comes back and sends: its answer cannot overwrite the newer outcome...
    make_due(delivery)
    receiver.reply(500, b"late")
    assert webhook_claim_send(abandoned) == "superseded"
    taken.refresh_from_db()
    assert (taken.attempts, taken.last_error) == (2, "")
    # ...but a success counts whoever got it.
    assert webhook_claim_send(abandoned) == "delivered"
    taken.refresh_from_db()
    assert taken.status == Status.DELIVERED
    assert receiver.message_ids() == [delivery.message_id] * 3


def test_a_slow_endpoint_gets_no_more_than_its_in_flight_limit(receiver, partner, settings):
    settings.WEBHOOK_ENDPOINT_MAX_IN_FLIGHT = 2
    slow = WebhookEndpoint.objects.create(partner=partner, url=receiver.url("/slow"))
    fast = WebhookEndpoint.objects.create(partner=partner, url=receiver.url("/fast"))
    for _ in range(5):
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded", data={})
    claims = webhook_deliveries_claim(limit=10)
    by_endpoint = sorted(claim.delivery.endpoint_id for claim in claims)
    assert by_endpoint == [slow.pk, slow.pk, fast.pk, fast.pk]
    assert webhook_deliveries_claim(limit=10) == []
    assert webhook_deliveries_due() == []


# --- order ----------------------------------------------------------------------------------


def test_a_later_event_of_a_transfer_waits_while_an_earlier_one_is_retried(receiver, endpoint,
                                                                          settings):
    settings.WEBHOOK_ORDER_MAX_WAIT_SECONDS = 300
    transfer = make_transfer(partner=endpoint.partner)
    first = enqueue(endpoint, event_type="transfer.funded", transfer_id=transfer.pk)
    second = enqueue(endpoint, event_type="transfer.completed", transfer_id=transfer.pk)
    assert (first.sequence, second.sequence) == (1, 2)

    receiver.reply(500)
    webhook_delivery_send(delivery_id=first.pk)
    assert webhook_delivery_send(delivery_id=second.pk).attempts == 0
    assert webhook_deliveries_due() == []
    assert len(receiver.requests) == 1

    # Past the bound, the later one goes with its sequence; the earlier goes when due.
    WebhookDelivery.objects.filter(pk=second.pk).update(
        created_at=timezone.now() - timedelta(seconds=301))
    assert webhook_delivery_send(delivery_id=second.pk).status == Status.DELIVERED
    make_due(first)
    assert webhook_delivery_send(delivery_id=first.pk).status == Status.DELIVERED
    assert [r.payload["sequence"] for r in receiver.requests if r.payload] == [1, 2, 1]


def test_redrive_hands_over_only_due_deliveries(receiver, endpoint, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.webhook_deliver, "delay", queued.append)
    due = enqueue(endpoint)
    later = enqueue(endpoint)
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5))
    done = enqueue(endpoint)
    WebhookDelivery.objects.filter(pk=done.pk).update(status=Status.DELIVERED)
    assert tasks.webhooks_redrive() == 1
    assert queued == [due.pk]


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_private_address_is_refused_at_send_time_and_nothing_is_sent(receiver, partner,
                                                                       settings, host):
    port = receiver.server.server_address[1]
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=f"http://{host}:{port}/x")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    sent = webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    assert receiver.requests == []
    assert sent.status == Status.PENDING
    assert "is not a public address" in sent.last_error
