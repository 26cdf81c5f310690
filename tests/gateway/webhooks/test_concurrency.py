"""Real concurrency (committed rows, several database connections): no transaction or row lock
is held during a call, concurrent workers never send a message twice, and a worker goes through
an endpoint's queue in sequence order."""

import threading

import psycopg
import pytest
from django.db import connection, connections

from gateway.webhooks import tasks
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.services import webhook_delivery_send, webhook_event_enqueue
from gateway.webhooks.services.delivery import (
    webhook_delivery_work,
    webhook_sender_pool_shutdown,
)
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

Status = WebhookDelivery.Status
pytestmark = pytest.mark.django_db(transaction=True)


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(**{key: value for key, value in params.items()
                                             if key in ("host", "port", "user", "password",
                                                        "dbname")})


def test_no_transaction_or_row_lock_is_held_while_the_receiver_answers(receiver, partner):
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=receiver.url())
    receiver.secrets.append(endpoint.secret)
    [delivery_id] = webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded",
                                          data={})
    seen = {}

    def during_the_call() -> None:
        with psycopg.connect(_dsn(), autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            with other.transaction():
                row = other.execute("SELECT status FROM webhooks_webhookdelivery WHERE id = %s "
                                    "FOR UPDATE NOWAIT", [delivery_id]).fetchone()
            seen["row"] = row
            seen["idle_in_transaction"] = other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%'").fetchone()[0]

    receiver.during = during_the_call
    sent = webhook_delivery_send(delivery_id=delivery_id)
    assert seen == {"row": ("pending",), "idle_in_transaction": 0}
    assert sent.status == Status.DELIVERED


def test_concurrent_workers_send_each_message_once_and_each_transfer_in_order(receiver):
    partner, _ = make_partner()
    endpoints = [WebhookEndpoint.objects.create(partner=partner, url=receiver.url(f"/{n}"))
                 for n in range(2)]
    receiver.secrets.extend(endpoint.secret for endpoint in endpoints)
    corridor = make_corridor()
    transfers = [make_transfer(partner=partner, corridor=corridor) for _ in range(2)]
    ids = []
    for step in ("deposit_seen", "funded", "approved", "converting", "payout_pending"):
        for transfer in transfers:
            ids += webhook_event_enqueue(partner_id=partner.pk, transfer_id=transfer.pk,
                                         event_type=f"transfer.{step}", data={"step": step})
    errors = []

    def worker(mine: list[int]) -> None:
        try:
            for pk in mine:
                webhook_delivery_work(delivery_id=pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # Every worker is handed every message (duplicates, re-drives), each in another order;
    # one more goes through the Celery task into the sender threads.
    threads = [threading.Thread(target=worker, args=(ids[n * 7:] + ids[:n * 7],))
               for n in range(3)]
    try:
        for thread in threads:
            thread.start()
        tasks.webhook_deliver(ids[-1])
        for thread in threads:
            thread.join(timeout=60)
    finally:
        webhook_sender_pool_shutdown()
    assert errors == []
    assert sorted(receiver.message_ids()) == sorted(
        WebhookDelivery.objects.values_list("message_id", flat=True))
    assert len(receiver.requests) == 20
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {
        (Status.DELIVERED, 1)}
    for n in range(2):
        for transfer in transfers:
            events = _event_ids(transfer)
            assert [r.payload["sequence"] for r in receiver.requests
                    if r.path == f"/{n}" and r.payload["id"] in events] == [1, 2, 3, 4, 5]


def _event_ids(transfer) -> set[str]:
    from gateway.webhooks.models import WebhookEvent

    return {f"evt_{public_id.hex}" for public_id in WebhookEvent.objects.filter(
        transfer_id=transfer.pk).values_list("public_id", flat=True)}
