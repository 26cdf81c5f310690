import threading

import pytest
from django.db import connection

from gateway.common.problems import InvalidTransitionError
from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.services.machine import Entry, transfer_transition
from gateway.transfers.states import (
    FINAL_STATES,
    SENDER_STATUS,
    TRANSITIONS,
    SenderStatus,
    TransferState,
)
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.gateway.transfers.factories import make_transfer
from tests.workers import transition_in_subprocess

ILLEGAL = [(a, b) for a in TransferState.values for b in TransferState.values
           if b not in TRANSITIONS[a]]
LEGAL = [(a, b) for a in TransferState.values for b in sorted(TRANSITIONS[a])]


def test_table_covers_every_state_and_every_sender_status_is_sep31():
    assert set(TRANSITIONS) == set(TransferState.values)
    assert set(SENDER_STATUS.values()) <= set(SenderStatus.values)
    assert {TransferState.COMPLETED, TransferState.REFUNDED, TransferState.EXPIRED,
            TransferState.CANCELLED} == set(FINAL_STATES)
    assert all(state in TRANSITIONS for targets in TRANSITIONS.values() for state in targets)


@pytest.mark.django_db
@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(from_state, to_state):
    transfer = make_transfer(state=from_state)
    WebhookEndpoint.objects.create(partner=transfer.partner, url="http://127.0.0.1:9/hook")
    events_before = TransferEvent.objects.count()
    with pytest.raises(InvalidTransitionError):
        transfer_transition(transfer_id=transfer.pk, to_state=to_state, reason="test")
    transfer.refresh_from_db()
    assert transfer.state == from_state
    assert TransferEvent.objects.count() == events_before
    assert WebhookDelivery.objects.count() == 0
    assert JournalEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("from_state", "to_state"), LEGAL)
def test_every_legal_transition_writes_state_history_and_outbox(from_state, to_state,
                                                                 django_capture_on_commit_callbacks):
    transfer = make_transfer(state=from_state)
    WebhookEndpoint.objects.create(partner=transfer.partner, url="http://127.0.0.1:9/hook")
    with django_capture_on_commit_callbacks(execute=False):
        transfer_transition(transfer_id=transfer.pk, to_state=to_state, reason="because",
                            actor="test")
    transfer.refresh_from_db()
    assert transfer.state == to_state
    event = transfer.events.order_by("-id").first()
    assert (event.from_state, event.to_state, event.reason, event.actor) == (
        from_state, to_state, "because", "test")
    delivery = WebhookDelivery.objects.get()
    data = delivery.payload["data"]  # the whole transfer, as the API shows it
    assert (data["id"], data["status"], data["state"], data["external_id"]) == (
        str(transfer.public_id), SENDER_STATUS[to_state], to_state, "")
    assert (delivery.payload["type"], delivery.payload["sequence"]) == (f"transfer.{to_state}", 1)


@pytest.mark.django_db
def test_a_failing_ledger_entry_rolls_back_the_transition():
    from decimal import Decimal

    from gateway.ledger.services import UnbalancedEntryError, credit, debit

    transfer = make_transfer(state=TransferState.DEPOSIT_SEEN)
    with pytest.raises(UnbalancedEntryError):
        transfer_transition(
            transfer_id=transfer.pk, to_state=TransferState.FUNDED,
            entry=Entry(event="x", description="x", legs=(
                debit("assets:a", "USDC", Decimal("1"), kind="asset"),
                credit("liabilities:b", "USDC", Decimal("2"), kind="liability"))),
        )
    transfer.refresh_from_db()
    assert transfer.state == TransferState.DEPOSIT_SEEN
    assert transfer.events.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_of_one_transfer_have_exactly_one_winner():
    transfer = make_transfer(state=TransferState.FUNDED)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    targets = [TransferState.APPROVED, TransferState.REJECTED, TransferState.ON_HOLD,
               TransferState.APPROVED]

    def move(target: str) -> None:
        barrier.wait()
        try:
            transfer_transition(transfer_id=transfer.pk, to_state=target,
                                expect_from=frozenset({TransferState.FUNDED}))
            outcomes.append(f"won:{target}")
        except InvalidTransitionError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    assert outcomes.count("refused") == 3
    transfer.refresh_from_db()
    assert f"won:{transfer.state}" == winners[0]
    assert list(transfer.events.values_list("from_state", "to_state")) == [
        ("", TransferState.FUNDED), (TransferState.FUNDED, transfer.state)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_from_two_processes_have_exactly_one_winner():
    import multiprocessing

    transfer = make_transfer(state=TransferState.FUNDED)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    name = connection.settings_dict["NAME"]
    processes = [context.Process(target=transition_in_subprocess,
                                 args=(transfer.pk, target, TransferState.FUNDED, name, queue))
                 for target in (TransferState.APPROVED, TransferState.REJECTED)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    results = sorted(queue.get(timeout=60) for _ in processes)
    assert results == ["refused", "won"]
    assert Transfer.objects.get(pk=transfer.pk).events.count() == 2
