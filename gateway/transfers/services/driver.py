"""The map of a transfer\'s life: ``STEPS``, one row per state, and the one driver that runs it.

Read this first. A transfer is created ``awaiting_deposit`` (``creation.py``); from then on each
non-final state has a row below: the step (a service of this package) that moves the transfer on
from that state when the gateway can, where that step may lead, and the effects it may have:
the ledger entries it may post (``transfer:<id>:<event>``), the rail float operations, and the
outside services (``ramps``, ``compliance``) it may call. A state can also wait on someone else:
``gateway.transfers.states.ACTIONS`` names, for each waiting state, the actions of the sender,
an operator, an agent or a deadline that move it on; ``TRANSITIONS`` there is what is allowed at
all. Every move is written by ``machine.transfer_step`` (lock, check, apply, transition in one
transaction). While the driver runs a transfer, a move its row does not declare (target, ledger
entry, float operation) is refused as a bug (``StepContractError``) and nothing is written.

One driver per transfer: ``transfer_advance`` runs the steps in a loop, in this process, until
the transfer is final or waits on the outside world (a step that does not move it). Moves made
inside that loop queue nothing: the loop itself goes on, so a queued advance never races the
loop that is already driving the transfer. The next advance is queued (after commit, at most one
per transfer, ``machine.transfers_advance_enqueue``) only by what happens outside a run: an
action, a provider callback, the chain watcher, the re-drive (``transfers_stuck``), a step that
asks to be run again after a backoff (a payout retry), or a run that used up ``max_steps``. A
worker that dies mid-run is covered by the re-drive.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from compliance.models import ScreeningDecision
from compliance.selectors import screening_decisions_superseding
from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import Corridor, HoldKind, Transfer
from gateway.transfers.services.actions import transfer_payout_failed_review
from gateway.transfers.services.conversion import (
    transfer_convert_execute,
    transfer_convert_start,
)
from gateway.transfers.services.deposits import transfer_deposit_progress
from gateway.transfers.services.holds import holds_standing
from gateway.transfers.services.machine import (
    FLOAT_COMMIT,
    FLOAT_RELEASE,
    FLOAT_RESERVE,
    Move,
    StepContractError,
    driving,
    transfer_advance_enqueue,
)
from gateway.transfers.services.payouts import transfer_payout_drive
from gateway.transfers.services.refunds import transfer_refund_progress, transfer_refund_start
from gateway.transfers.services.screening import transfer_hold_review, transfer_screen
from gateway.transfers.states import TransferState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """How the driver moves a transfer on from one state (see the module docstring)."""

    run: Callable[..., Transfer]  # called with transfer_id=; returns the transfer as it is now
    to_states: frozenset[str]  # where it may move it; its own state: it may stay (a history row)
    ledger: frozenset[str] = frozenset()  # events of the journal entries its moves may post
    float_operations: frozenset[str] = frozenset()  # rail float operations it may take
    calls: tuple[str, ...] = ()  # the outside services it may call


STEPS: dict[str, Step] = {
    # Deposits: the chain watcher records them (ramps.chain); the step reads what it recorded.
    # Seen and final in one go, the same call goes on through the next row.
    TransferState.AWAITING_DEPOSIT: Step(
        transfer_deposit_progress, frozenset({TransferState.DEPOSIT_SEEN, TransferState.EXPIRED}),
        calls=("ramps.chain.selectors.deposits_for_address",)),
    TransferState.DEPOSIT_SEEN: Step(
        transfer_deposit_progress,
        frozenset({TransferState.FUNDED, TransferState.AWAITING_DEPOSIT, TransferState.ON_HOLD}),
        ledger=frozenset({"funding"}), float_operations=frozenset({FLOAT_RESERVE}),
        calls=("ramps.chain.crediting.deposit_mark_credited",
               "ramps.chain.outbound.refund_create (an overpayment's surplus)")),
    # Compliance: screening and monitoring folded into one decision; a hold opens a case.
    TransferState.FUNDED: Step(
        transfer_screen,
        frozenset({TransferState.APPROVED, TransferState.ON_HOLD, TransferState.REJECTED}),
        float_operations=frozenset({FLOAT_RELEASE}),
        calls=("compliance.services.screening_run",
               "compliance.monitoring.services.monitoring_evaluate",
               "compliance.cases.services.case_open")),
    # A hold waits for its actions (states.ACTIONS); this step only applies what was decided
    # elsewhere (a case confirmed) and clears a float hold once the float is topped up.
    TransferState.ON_HOLD: Step(
        transfer_hold_review,
        frozenset({TransferState.ON_HOLD, TransferState.APPROVED, TransferState.REJECTED}),
        float_operations=frozenset({FLOAT_RELEASE}),
        calls=("gateway.treasury.services.treasury_float_available",)),
    # Conversion on the quote's venue: the order is recorded first, then executed.
    TransferState.APPROVED: Step(
        transfer_convert_start, frozenset({TransferState.CONVERTING}),
        calls=("ramps.liquidity.services.conversion_order_amount",
               "ramps.liquidity.services.conversion_order_create")),
    TransferState.CONVERTING: Step(
        transfer_convert_execute,
        frozenset({TransferState.PAYOUT_PENDING, TransferState.ON_HOLD,
                   TransferState.PAYOUT_FAILED}),
        ledger=frozenset({"conversion"}), float_operations=frozenset({FLOAT_RESERVE}),
        calls=("ramps.liquidity.services.conversion_order_execute",
               "gateway.treasury.services.treasury_float_reserve",
               "ramps.payouts.services.payout_attempt_create",
               "ramps.payouts.agents (cash pickup code, through payout_rails)")),
    # The payout: the recorded attempt is sent once; silence is resolved by asking the rail.
    TransferState.PAYOUT_PENDING: Step(
        transfer_payout_drive,
        frozenset({TransferState.PAYOUT_PENDING, TransferState.COMPLETED,
                   TransferState.PAYOUT_FAILED, TransferState.PAYOUT_REVIEW}),
        float_operations=frozenset({FLOAT_COMMIT}),
        calls=("ramps.payouts.services.payout_attempt_submit",
               "ramps.payouts.services.payout_attempt_query",
               "ramps.payouts.services.payout_attempt_create (a retry)")),
    # Unsettled at the provider past the rail's bound: an operator checks (states.ACTIONS);
    # the step keeps asking the provider, whose verdict still completes or fails it.
    TransferState.PAYOUT_REVIEW: Step(
        transfer_payout_drive, frozenset({TransferState.COMPLETED, TransferState.PAYOUT_FAILED}),
        float_operations=frozenset({FLOAT_COMMIT}),
        calls=("ramps.payouts.services.payout_attempt_query",)),
    # A failed payout waits for a correction or an operator until its correction window closes.
    TransferState.PAYOUT_FAILED: Step(
        transfer_payout_failed_review, frozenset({TransferState.REFUND_PENDING}),
        float_operations=frozenset({FLOAT_RELEASE}),
        calls=("ramps.chain.outbound.refund_create",)),
    # Refunds on chain (refunds.py): recorded, then sent and followed to their receipts.
    TransferState.REJECTED: Step(
        transfer_refund_start, frozenset({TransferState.REFUND_PENDING}),
        float_operations=frozenset({FLOAT_RELEASE}),
        calls=("ramps.chain.destinations.refund_destination_choose",
               "ramps.chain.outbound.refund_create")),
    TransferState.REFUND_PENDING: Step(
        transfer_refund_progress, frozenset({TransferState.REFUNDED}),
        ledger=frozenset({"refund"}),
        calls=("ramps.chain.outbound.refund_execute",
               "ramps.chain.outbound.outbound_transactions_refresh")),
}


def step_contract_check(from_state: str, move: Move) -> None:
    """Refuse a move out of ``from_state`` that its row of ``STEPS`` does not declare."""
    step = STEPS.get(from_state)
    problems = []
    if step is None:
        problems.append(f"{from_state} has no step")
    else:
        if move.to_state not in step.to_states:
            problems.append(f"it may not move to {move.to_state}")
        if move.entry is not None and move.entry.event not in step.ledger:
            problems.append(f"it may not post a {move.entry.event} entry")
        if move.float_operation and move.float_operation not in step.float_operations:
            problems.append(f"it may not {move.float_operation} float")
    if problems:
        raise StepContractError(f"The step of {from_state}: {'; '.join(problems)}.")


def transfer_advance(*, transfer_id: int, max_steps: int = 10) -> Transfer:
    """Run the steps of a transfer until it is final or waits on the outside world.

    Safe to call any number of times, from any number of workers: each step re-reads the state
    under a row lock and does nothing if another worker moved it first.
    """
    transfer = Transfer.objects.get(pk=transfer_id)
    with driving(transfer_id=transfer_id, check=step_contract_check):
        for _ in range(max_steps):
            step = STEPS.get(transfer.state)
            if step is None:
                return transfer
            before = transfer.state
            try:
                transfer = step.run(transfer_id=transfer.pk)
            except InvalidTransitionError:
                transfer = Transfer.objects.get(pk=transfer_id)  # another worker won; re-read
            if transfer.state == before:
                return transfer
    if transfer.state in STEPS:
        # Out of steps with the transfer still moving: the queue takes it from here.
        transfer_advance_enqueue(transfer_id=transfer.pk)
    return transfer


def transfers_stuck(*, older_than_seconds: int) -> list[int]:
    """Transfers the re-drive queues again: active ones left alone for ``older_than_seconds``
    (a lost message, a crashed worker), windows that ended, cases decided elsewhere, float
    holds, failed payouts past their correction window."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    waiting = {TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN}
    active = Transfer.objects.filter(
        state__in=set(STEPS) - waiting - {TransferState.ON_HOLD, TransferState.PAYOUT_FAILED},
        updated_at__lte=cutoff,
    ).exclude(state=TransferState.PAYOUT_PENDING,
              payout_method=Corridor.PayoutMethod.CASH_PICKUP).exclude(
        state=TransferState.PAYOUT_PENDING, payout_method="",
        corridor__payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    # Failed payouts wait for the sender until their corridor's correction window closes.
    now = timezone.now()
    correction_over = {pk for pk, changed, window in Transfer.objects.filter(
        state=TransferState.PAYOUT_FAILED, updated_at__lte=cutoff).values_list(
        "pk", "state_changed_at", "corridor__correction_window")[:1000] if changed + window <= now}
    expiring = Transfer.objects.filter(state__in=waiting, deposit_expires_at__lte=timezone.now())
    decided = Transfer.objects.filter(
        state=TransferState.ON_HOLD, compliance_decision__outcome=ScreeningDecision.Outcome.HOLD,
    ).filter(Exists(screening_decisions_superseding(decision=OuterRef("compliance_decision"))))
    # Float holds clear themselves once topped up (JSON containment is not portable to the
    # demo's SQLite: the few held rows are filtered here).
    float_held = {transfer.pk for transfer in Transfer.objects.filter(
        state=TransferState.ON_HOLD, updated_at__lte=cutoff,
    ).only("pk", "state", "holds", "hold_reason")[:1000]
        if HoldKind.FLOAT in holds_standing(transfer)}
    return sorted(set(active.values_list("pk", flat=True)[:1000]) | float_held | correction_over
                  | set(expiring.values_list("pk", flat=True)[:1000])
                  | set(decided.values_list("pk", flat=True)[:1000]))
