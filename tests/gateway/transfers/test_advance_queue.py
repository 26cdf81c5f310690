"""At most one immediate advance is queued per transfer, whoever asks (a transition, the
re-drive, the chain watcher): a backlog of duplicate no-op tasks cannot build up behind a slow
worker, and a lost message is still re-driven once its mark has passed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Transfer
from gateway.transfers.services.machine import (
    transfer_advance_claim,
    transfer_advance_enqueue,
    transfer_transition,
)
from gateway.transfers.states import TransferState
from tests.gateway.transfers.factories import make_transfer

S = TransferState


@pytest.fixture
def sent(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", calls.append)
    monkeypatch.setattr(transfer_tasks, "transfers_stuck", lambda **kwargs: list(
        Transfer.objects.exclude(state__in=[S.COMPLETED]).values_list("pk", flat=True)))
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_transfer_is_queued_once_however_often_it_is_asked_for(sent):
    transfer = make_transfer(state=S.FUNDED)
    transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED, reason="test")
    for _ in range(3):
        transfer_tasks.transfers_redrive()
        transfer_advance_enqueue(transfer_id=transfer.pk)
    assert sent == [transfer.pk]


@pytest.mark.django_db
def test_a_running_advance_lets_the_next_change_queue_again():
    transfer = make_transfer(state=S.FUNDED)
    assert transfer_advance_claim(transfer_ids=[transfer.pk]) == [transfer.pk]
    assert transfer_advance_claim(transfer_ids=[transfer.pk]) == []
    transfer_tasks.transfer_advance_started(transfer_id=transfer.pk)
    assert transfer_advance_claim(transfer_ids=[transfer.pk]) == [transfer.pk]


@pytest.mark.django_db
def test_a_lost_message_is_queued_again_once_its_mark_has_passed():
    transfer = make_transfer(state=S.FUNDED)
    other = make_transfer(state=S.FUNDED, corridor=transfer.corridor)
    assert transfer_advance_claim(transfer_ids=[transfer.pk, other.pk]) == sorted(
        [transfer.pk, other.pk])
    Transfer.objects.filter(pk=transfer.pk).update(
        advance_queued_until=timezone.now() - timedelta(seconds=1))
    assert transfer_advance_claim(transfer_ids=[transfer.pk, other.pk]) == [transfer.pk]
