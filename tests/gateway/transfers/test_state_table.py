"""The state table has no dead ends: every state a transfer can reach is final, or has a driver
step, or lists named actions (sender, operator, agent, deadline) that lead on; from every one of
them a final state can be reached; every action exists, is allowed by the table and is tested."""

import importlib
from collections import deque
from pathlib import Path

from gateway.transfers.models import HoldKind
from gateway.transfers.services.driver import _STEPS
from gateway.transfers.states import (
    ACTIONS,
    FINAL_STATES,
    HOLD_ACTIONS,
    TRANSITIONS,
    TransferState,
)

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
                if state not in _STEPS and not ACTIONS.get(state)]
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
    assert set(_STEPS) >= (set(S.values) - FINAL_STATES - waiting)
