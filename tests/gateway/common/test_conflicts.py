"""conflicts_retried against a real PostgreSQL deadlock (its unit tests, with raised errors, are
tests/gateway/transfers/test_creation_retry.py): two transactions locking two counter
rows in opposite orders. Which one PostgreSQL aborts is made certain by the sessions'
``deadlock_timeout`` (the session that checks first finds the cycle and is the victim)."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from gateway.common.conflicts import conflicts_retried
from gateway.webhooks.models import WebhookCounter

pytestmark = pytest.mark.django_db(transaction=True)


def _lock(key: str) -> None:
    WebhookCounter.objects.select_for_update().get(key=key)


def _other_transaction(first_locked: threading.Event, go: threading.Event,
                       outcome: list[str]) -> None:
    """Locks ``x`` then, once told, ``y``; it never checks for deadlocks first (10 s)."""
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '10s'")
            _lock("x")
            first_locked.set()
            go.wait(10)
            _lock("y")
        outcome.append("committed")
    except OperationalError as exc:
        outcome.append(f"aborted {exc}")
    finally:
        connections.close_all()


def test_a_deadlock_victim_is_run_again_and_succeeds():
    WebhookCounter.objects.bulk_create([WebhookCounter(key="x"), WebhookCounter(key="y")])
    first_locked, go = threading.Event(), threading.Event()
    outcome: list[str] = []
    other = threading.Thread(target=_other_transaction, args=(first_locked, go, outcome))
    other.start()
    assert first_locked.wait(10)
    attempts: list[int] = []

    def work() -> str:
        attempts.append(1)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '200ms'")
            _lock("y")
            if len(attempts) == 1:
                go.set()  # the other now waits for y while this waits for x: a cycle
            _lock("x")
            WebhookCounter.objects.filter(key="x").update(value=41)
        return "done"

    assert conflicts_retried(work, what="test") == "done"
    other.join(15)
    assert outcome == ["committed"]  # the other one won; this one ran again after it
    assert len(attempts) == 2
    assert WebhookCounter.objects.get(key="x").value == 41
