"""The state table has no dead ends: every state a transfer can reach is final, or has a driver
step, or lists named actions (sender, operator, agent, deadline) that lead on; from every one of
them a final state can be reached; every action exists, is allowed by the table and is tested.

The step table (``services/driver.py``: ``STEPS``) is what the one writer holds a step to: a step
that raises, or moves in a way its row does not declare, leaves nothing behind (no ledger entry,
history row or webhook); two workers driving one transfer run each step once; moves made while
the driver runs queue no second driver, moves from outside queue one.
"""

import importlib
import secrets
import types
from collections import deque
from pathlib import Path

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string

from gateway.ledger.models import JournalEntry
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import HoldKind, Transfer, TransferEvent
from gateway.transfers.services import machine
from gateway.transfers.services.driver import STEPS, Step, transfer_advance
from gateway.transfers.services.machine import (
    FLOAT_OPERATIONS,
    StepContractError,
    transfer_transition,
)
from gateway.transfers.states import (
    ACTIONS,
    FIELDS_SET_ON_ENTRY,
    FINAL_STATES,
    HOLD_ACTIONS,
    TRANSITIONS,
    TransferState,
)
from gateway.webhooks.models import WebhookEvent
from ramps.chain.models import Deposit
from tests.gateway.transfers.factories import make_transfer
from tests.gateway.transfers.flow import run_in_threads

S = TransferState
TESTS = Path(__file__).resolve().parents[2]


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def reachable_from(start: str) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for target in TRANSITIONS[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_every_reachable_state_is_final_or_has_a_step_or_a_named_action():
    reachable = reachable_from(S.AWAITING_DEPOSIT)
    assert reachable == set(S.values)  # no state the table cannot reach (a stale entry)
    stranded = [state for state in reachable - FINAL_STATES
                if state not in STEPS and not ACTIONS.get(state)]
    assert stranded == []


def test_a_final_state_can_be_reached_from_every_state():
    assert [state for state in S.values if not reachable_from(state) & FINAL_STATES] == []


def test_every_action_exists_is_allowed_by_the_table_and_is_tested():
    test_text = "\n".join(path.read_text() for path in TESTS.rglob("test_*.py")
                          if path.name != Path(__file__).name)
    for state, actions in ACTIONS.items():
        assert state not in FINAL_STATES
        for action in actions:
            assert callable(resolve(action.service)), action.service
            assert action.actor in {"sender", "operator", "agent", "deadline"}
            assert action.to_states <= TRANSITIONS[state], (state, action)
            name = action.service.rpartition(".")[2]
            assert name in test_text, f"{name} ({state}) is not exercised by any test"


def test_every_hold_reason_has_an_action_that_clears_it():
    assert set(HOLD_ACTIONS) == set(HoldKind.values)
    for kind, services in HOLD_ACTIONS.items():
        assert services, kind
        for service in services:
            assert callable(resolve(service)), (kind, service)


def test_active_states_have_driver_steps():
    waiting = {S.ON_HOLD, S.PAYOUT_FAILED, S.REJECTED, S.REFUND_PENDING, S.AWAITING_DEPOSIT,
               S.DEPOSIT_SEEN}
    assert set(STEPS) >= (set(S.values) - FINAL_STATES - waiting)


# --- the step table -------------------------------------------------------------------------


def test_every_non_final_state_has_a_step_or_is_a_named_waiting_state_with_actions():
    for state in set(S.values) - FINAL_STATES:
        assert state in STEPS or ACTIONS.get(state), state
    assert set(STEPS) <= set(S.values) - FINAL_STATES
    # The states whose step may leave them where they are wait on someone: they name who.
    for state in (S.AWAITING_DEPOSIT, S.ON_HOLD, S.PAYOUT_PENDING, S.PAYOUT_FAILED):
        assert ACTIONS[state], state


@pytest.mark.parametrize("state", sorted(STEPS))
def test_each_step_declares_only_what_the_state_machine_allows(state):
    step = STEPS[state]
    assert callable(step.run)
    assert step.to_states
    assert step.to_states - {state} <= TRANSITIONS[state]
    assert step.float_operations <= FLOAT_OPERATIONS
    assert all(event and ":" not in event for event in step.ledger)
    assert set(FIELDS_SET_ON_ENTRY) <= set(S.values)


def _seen_and_final(transfer: Transfer) -> Deposit:
    return Deposit.objects.create(
        chain=transfer.corridor.token.chain, token=transfer.corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=100, block_hash="0x" + secrets.token_hex(32),
        from_address="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        amount=transfer.amount_in_base_units, status=Deposit.Status.CONFIRMED,
        confirmed_at=timezone.now())


def _written(transfer: Transfer) -> tuple[int, int, int]:
    """(journal entries, history rows, webhook events) of the transfer."""
    return (JournalEntry.objects.filter(owner_reference=transfer.reference).count(),
            TransferEvent.objects.filter(transfer=transfer).count(),
            WebhookEvent.objects.filter(transfer_id=transfer.pk).count())


@pytest.mark.parametrize("state", sorted(STEPS))
def test_each_service_a_step_names_exists(state):
    # The table is the map a newcomer reads: a service (or a module) it names must be where it
    # says. An entry may end with a note in brackets.
    for entry in STEPS[state].calls:
        dotted = entry.split(" (", 1)[0]
        named = import_string(dotted)
        assert callable(named) or isinstance(named, types.ModuleType), entry


def test_a_step_that_raises_leaves_no_ledger_entry_history_row_or_webhook(db, monkeypatch):
    transfer = make_transfer(state=S.DEPOSIT_SEEN)
    deposit = _seen_and_final(transfer)
    before = _written(transfer)

    def broken(**kwargs):
        raise RuntimeError("the node went away")

    # The last thing the funding move does, after its entry, history row and webhook row.
    monkeypatch.setattr(machine, "deposit_address_close", broken)
    with pytest.raises(RuntimeError, match="the node went away"):
        transfer_advance(transfer_id=transfer.pk)
    assert _written(transfer) == before
    deposit.refresh_from_db()
    transfer.refresh_from_db()
    assert deposit.credited_at is None
    assert (transfer.state, transfer.amount_received_base_units) == (S.DEPOSIT_SEEN, 0)


def test_a_move_its_step_does_not_declare_is_refused_and_leaves_nothing(db, monkeypatch):
    transfer = make_transfer(state=S.FUNDED)
    before = _written(transfer)

    def rejects(*, transfer_id):
        return transfer_transition(transfer_id=transfer_id, to_state=S.REJECTED, reason="?")

    monkeypatch.setitem(STEPS, S.FUNDED, Step(rejects, frozenset({S.APPROVED})))
    with pytest.raises(StepContractError, match="may not move to rejected"):
        transfer_advance(transfer_id=transfer.pk)
    assert _written(transfer) == before
    assert Transfer.objects.get(pk=transfer.pk).state == S.FUNDED
    # The same move from outside the driver (an action) is the state machine's to judge.
    assert transfer_transition(transfer_id=transfer.pk, to_state=S.REJECTED).state == S.REJECTED


def test_a_move_may_set_only_the_fields_its_state_lists(db):
    transfer = make_transfer(state=S.FUNDED)
    before = _written(transfer)
    with pytest.raises(StepContractError, match="may not set amount_out"):
        transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                            updates={"amount_out": transfer.amount_out * 2})
    assert _written(transfer) == before
    unchanged = Transfer.objects.get(pk=transfer.pk)
    assert (unchanged.state, unchanged.amount_out) == (S.FUNDED, transfer.amount_out)


@pytest.fixture
def advances(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", queued.append)
    return queued


@pytest.mark.django_db(transaction=True)
def test_moves_inside_the_driver_queue_no_second_driver_and_moves_outside_queue_one(advances):
    transfer = make_transfer()
    _seen_and_final(transfer)
    moved = transfer_advance(transfer_id=transfer.pk)
    # Seen, funded, screened and held for a case: three moves in one run.
    assert moved.state == S.ON_HOLD
    assert transfer.events.count() == 4  # with the creation
    assert advances == []  # the loop went on itself; nothing raced it
    transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED, reason="an action")
    assert advances == [transfer.pk]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_uses_up_its_steps_leaves_the_rest_to_the_queue(advances):
    transfer = make_transfer()
    _seen_and_final(transfer)
    assert transfer_advance(transfer_id=transfer.pk, max_steps=1).state == S.FUNDED
    assert advances == [transfer.pk]


@pytest.mark.django_db(transaction=True)
def test_two_workers_driving_one_transfer_run_its_step_once(advances):
    transfer = make_transfer()
    deposit = _seen_and_final(transfer)
    results, errors = run_in_threads(
        2, lambda: transfer_advance(transfer_id=transfer.pk, max_steps=1).state)
    assert errors == []
    # The loser waited for the winner's lock and stopped where it found the transfer.
    assert S.FUNDED in results
    assert set(results) <= {S.DEPOSIT_SEEN, S.FUNDED}
    transfer.refresh_from_db()
    assert transfer.state == S.FUNDED
    assert transfer.amount_received_base_units == deposit.amount
    assert list(JournalEntry.objects.filter(owner_reference=transfer.reference)
                .values_list("reference", flat=True)) == [
        f"transfer:{transfer.public_id}:funding"]
    assert list(transfer.events.order_by("id").values_list("from_state", "to_state")) == [
        ("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN),
        (S.DEPOSIT_SEEN, S.FUNDED)]
    assert WebhookEvent.objects.filter(transfer_id=transfer.pk).count() == 2
    assert advances == [transfer.pk]  # the rest of the way: one advance, queued once
