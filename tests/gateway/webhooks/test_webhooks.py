"""Webhook outbox: Standard Webhooks signatures checked by the reference library, retries, limits.

Deliveries go to a real HTTP receiver on loopback that answers what each test tells it to.
"""

import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.webhooks import tasks
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.services import (
    MAX_ATTEMPTS,
    webhook_delivery_send,
    webhook_event_enqueue,
    webhook_sign,
)
from tests.factories import make_partner

Status = WebhookDelivery.Status
pytestmark = pytest.mark.django_db


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Loopback HTTP server: records every request, answers with the next scripted reply."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[tuple[int, dict[str, str], bytes]] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append(Received(self.command, self.path,
                                                  dict(self.headers.items()), body))
                time.sleep(receiver.delay)
                status, headers, text = (receiver.replies.pop(0) if receiver.replies
                                         else (200, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_POST = do_GET = _handle  # noqa: N815 - names http.server looks up

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def reply(self, status: int, text: bytes = b"", **headers: str) -> None:
        self.replies.append((status, headers, text))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def endpoint(receiver):
    partner, _ = make_partner()
    return WebhookEndpoint.objects.create(partner=partner, url=receiver.url())


def enqueue(endpoint, data=None) -> WebhookDelivery:
    [pk] = webhook_event_enqueue(partner_id=endpoint.partner_id, event_type="transfer.updated",
                                 data=data or {"id": "t-1", "status": "completed"})
    return WebhookDelivery.objects.get(pk=pk)


# --- signatures -----------------------------------------------------------------------------


def test_delivered_body_and_headers_verify_with_the_standard_webhooks_library(receiver,
                                                                             endpoint):
    delivery = enqueue(endpoint, {"id": "t-1", "status": "completed", "amount": "12.50"})
    sent = webhook_delivery_send(delivery_id=delivery.pk)

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks")
    assert request.headers["webhook-id"] == delivery.message_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload == {"type": "transfer.updated", "timestamp": delivery.payload["timestamp"],
                       "data": {"id": "t-1", "status": "completed", "amount": "12.50"}}
    assert json.loads(request.body) == delivery.payload

    sent.refresh_from_db()
    assert sent.status == Status.DELIVERED
    assert sent.attempts == 1
    assert sent.last_status_code == 200
    assert sent.last_error == ""
    assert sent.delivered_at is not None


def test_another_secret_or_a_changed_body_fails_verification(receiver, endpoint):
    webhook_delivery_send(delivery_id=enqueue(endpoint).pk)
    [request] = receiver.requests
    other = WebhookEndpoint.objects.create(partner=endpoint.partner, url=receiver.url())
    assert other.secret != endpoint.secret
    assert other.secret.startswith("whsec_")
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(request.body, request.headers)
    tampered = request.body.replace(b"completed", b"refunded")
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(tampered, request.headers)
    replayed_id = {**request.headers, "webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body, replayed_id)


def test_webhook_sign_matches_the_reference_signature():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    moment = timezone.now()
    headers = webhook_sign(secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
                           body='{"test": 2432232314}', timestamp=moment)
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    assert headers["webhook-signature"] == Webhook(secret).sign(
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=moment, data='{"test": 2432232314}')
    assert Webhook(secret).verify('{"test": 2432232314}', headers) == {"test": 2432232314}


# --- retries --------------------------------------------------------------------------------


def test_a_500_leaves_the_delivery_pending_with_a_later_retry(receiver, endpoint):
    delivery = enqueue(endpoint)
    receiver.reply(500, b"receiver broke")
    before = timezone.now()
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    sent.refresh_from_db()
    assert sent.status == Status.PENDING
    assert sent.attempts == 1
    assert sent.last_status_code == 500
    assert sent.last_error == "receiver broke"
    assert sent.delivered_at is None
    assert before + timedelta(seconds=2) <= sent.next_attempt_at <= (
        timezone.now() + timedelta(seconds=2))
    assert len(receiver.requests) == 1


def test_a_retry_resends_the_same_message_id_with_a_fresh_valid_signature(receiver, endpoint):
    delivery = enqueue(endpoint)
    receiver.reply(503)
    webhook_delivery_send(delivery_id=delivery.pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    assert first.body == second.body
    for request in (first, second):
        Webhook(endpoint.secret).verify(request.body, request.headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.DELIVERED, 2, 200)


def test_backoff_doubles_and_the_delivery_fails_after_the_maximum_attempts(receiver, endpoint):
    delivery = enqueue(endpoint)
    delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        receiver.reply(500)
        before = timezone.now()
        sent = webhook_delivery_send(delivery_id=delivery.pk)
        assert sent.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert sent.status == Status.PENDING
            delays.append(round((sent.next_attempt_at - before).total_seconds()))
    sent.refresh_from_db()
    assert MAX_ATTEMPTS == 8
    assert delays == [2, 4, 8, 16, 32, 64, 128]
    assert sent.status == Status.FAILED
    assert sent.attempts == MAX_ATTEMPTS
    assert sent.delivered_at is None
    assert len(receiver.requests) == MAX_ATTEMPTS
    # A failed delivery is never sent again, even if asked.
    again = webhook_delivery_send(delivery_id=delivery.pk)
    assert (again.status, again.attempts) == (Status.FAILED, MAX_ATTEMPTS)
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_delivered_message_is_never_sent_again(receiver, endpoint):
    delivery = enqueue(endpoint)
    first = webhook_delivery_send(delivery_id=delivery.pk)
    second = webhook_delivery_send(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    assert (first.status, second.status) == (Status.DELIVERED, Status.DELIVERED)
    second.refresh_from_db()
    assert second.attempts == 1
    assert second.delivered_at == first.delivered_at


def test_an_unreachable_endpoint_is_retried_later(endpoint, receiver):
    receiver.stop()
    delivery = enqueue(endpoint)
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    sent.refresh_from_db()
    assert sent.status == Status.PENDING
    assert sent.attempts == 1
    assert sent.last_status_code is None
    assert sent.last_error.startswith("ConnectionError: ")


def test_a_slow_endpoint_times_out_and_is_retried_later(receiver, endpoint, settings):
    settings.OUTBOUND_HTTP_TIMEOUT_SECONDS = 0.2
    receiver.delay = 1.0
    delivery = enqueue(endpoint)
    started = time.monotonic()
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    assert time.monotonic() - started < 0.9
    sent.refresh_from_db()
    assert sent.status == Status.PENDING
    assert sent.attempts == 1
    assert sent.last_error.startswith("ReadTimeout: ")


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(receiver, endpoint):
    delivery = enqueue(endpoint)
    receiver.reply(302, Location=receiver.url("/elsewhere"))
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    sent.refresh_from_db()
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hooks")]
    assert sent.status == Status.PENDING
    assert sent.last_status_code == 302


# --- the outbox -----------------------------------------------------------------------------


def test_enqueue_writes_one_row_per_active_endpoint_of_the_partner_only(
        receiver, django_capture_on_commit_callbacks):
    partner, _ = make_partner()
    other_partner, _ = make_partner()
    first = WebhookEndpoint.objects.create(partner=partner, url=receiver.url("/a"))
    second = WebhookEndpoint.objects.create(partner=partner, url=receiver.url("/b"))
    WebhookEndpoint.objects.create(partner=partner, url=receiver.url("/off"), is_active=False)
    WebhookEndpoint.objects.create(partner=other_partner, url=receiver.url("/other"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ids = webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.created",
                                    data={"id": "t-9"})
    deliveries = WebhookDelivery.objects.filter(pk__in=ids).order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [first.pk, second.pk]
    assert WebhookDelivery.objects.count() == 2
    assert len({d.message_id for d in deliveries}) == 2
    for delivery in deliveries:
        assert delivery.message_id.startswith("msg_")
        assert (delivery.status, delivery.attempts, delivery.event_type) == (
            Status.PENDING, 0, "transfer.created")
        assert delivery.payload["data"] == {"id": "t-9"}
        assert delivery.payload["type"] == "transfer.created"
    assert len(callbacks) == 1
    assert receiver.requests == []


def test_enqueue_for_a_partner_without_active_endpoints_writes_nothing(
        django_capture_on_commit_callbacks):
    partner, _ = make_partner()
    WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/x", is_active=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.created",
                                     data={}) == []
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []


def test_redrive_queues_only_pending_deliveries_that_are_due(endpoint, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.webhook_deliver, "delay", queued.append)
    due = enqueue(endpoint)
    later = enqueue(endpoint)
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5))
    delivered = enqueue(endpoint)
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status=Status.DELIVERED)
    failed = enqueue(endpoint)
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    assert tasks.webhooks_redrive() == 1
    assert queued == [due.pk]


def test_410_gone_disables_the_endpoint_and_stops_sending(receiver, endpoint):
    delivery = enqueue(endpoint)
    receiver.reply(410, b"gone")
    sent = webhook_delivery_send(delivery_id=delivery.pk)
    sent.refresh_from_db()
    endpoint.refresh_from_db()
    assert sent.status == Status.FAILED
    assert sent.attempts == 1
    assert endpoint.is_active is False
    assert webhook_delivery_send(delivery_id=delivery.pk).attempts == 1
    assert len(receiver.requests) == 1
