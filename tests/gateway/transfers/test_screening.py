"""Compliance (``services/screening.py`` and the compliance action of ``services/actions.py``):
screening and monitoring folded into one decision, holds decided through the case."""

from decimal import Decimal

import pytest

from compliance.models import ScreeningDecision
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.models import LedgerAccount
from gateway.transfers.services.actions import operator_decide
from gateway.transfers.services.driver import transfer_advance, transfers_stuck
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TransferState
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt
from tests.gateway.transfers.flow import (
    SANCTIONED_PAYER,
    add_deposit,
    assert_nothing_moved_money,
    entries,
    new_transfer,
)

S = TransferState
K = LedgerAccount.Kind


@pytest.mark.parametrize("payer", [SANCTIONED_PAYER, SANCTIONED_PAYER.lower()])
def test_a_sanctioned_paying_address_is_rejected_before_any_money_moves(corridor, payer,
                                                                        daraja_sandbox):
    transfer = new_transfer(corridor)
    add_deposit(transfer, payer=payer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REJECTED
    assert transfer.sender_status == "error"
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.REJECT
    assert [(r["rule"], r["list"], r["ticker"], r["address"]) for r in decision.reasons] == [
        ("sanctioned-address", "ofac-crypto", "ETH", SANCTIONED_PAYER)]
    assert entries(transfer) == ["funding", "float-reserve", "float-released"]
    assert_nothing_moved_money(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert_nothing_moved_money(transfer)


def test_a_held_transfer_waits_and_proceeds_once_an_operator_approves(corridor, maker, checker):
    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "amount-review"
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    assert_nothing_moved_money(transfer)

    held = transfer.compliance_decision
    # Maker-checker: the first operator's approval is a proposal on the case; nothing moves.
    transfer = operator_decide(transfer_id=transfer.pk, approve=True, operator=maker,
                               note="Source of funds documented.")
    assert transfer.state == S.ON_HOLD
    assert_nothing_moved_money(transfer)
    transfer = operator_decide(transfer_id=transfer.pk, approve=True, operator=checker,
                               note="Source of funds documented.")
    assert transfer.state == S.APPROVED
    assert transfer.hold_reason == ""
    approval = transfer.compliance_decision
    assert (approval.outcome, approval.supersedes_id, approval.decided_by) == (
        ScreeningDecision.Outcome.APPROVE, held.pk, "ops@example")
    assert transfer.events.order_by("-id").first().actor == "operator:ops@example"

    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    # Deciding again is refused: the transfer is no longer held.
    with pytest.raises(InvalidTransitionError):
        operator_decide(transfer_id=transfer.pk, approve=False, operator=maker, note="no")
    assert ScreeningDecision.objects.filter(subject_reference=transfer.reference).count() == 2


def test_a_held_transfer_rejected_by_an_operator_moves_no_money(corridor, maker, checker):
    transfer = new_transfer(corridor, sender={"name": "Amina Odhiambo"})
    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    transfer = operator_decide(transfer_id=transfer.pk, approve=False, operator=maker,
                               note="Could not verify the sender.")
    assert transfer.state == S.ON_HOLD  # proposed; a second operator confirms
    transfer = operator_decide(transfer_id=transfer.pk, approve=False, operator=checker,
                               note="Could not verify the sender.")
    assert transfer.state == S.REJECTED
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert_nothing_moved_money(transfer)


def test_an_operator_without_a_note_changes_nothing(corridor, maker):

    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer_advance(transfer_id=transfer.pk)
    with pytest.raises(DomainError) as excinfo:
        operator_decide(transfer_id=transfer.pk, approve=True, operator=maker, note="  ")
    assert excinfo.value.slug == "reason-required"
    transfer.refresh_from_db()
    assert transfer.state == S.ON_HOLD
    assert ScreeningDecision.objects.filter(subject_reference=transfer.reference).count() == 1


def test_a_case_decided_outside_the_transfer_admin_is_picked_up_by_the_redrive(corridor):
    from compliance.services import screening_decide_manually

    transfer = new_transfer(corridor, state=S.FUNDED)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    transfer_transition(transfer_id=transfer.pk, to_state=S.ON_HOLD,
                        updates={"compliance_decision": held})
    assert transfer.pk not in transfers_stuck(older_than_seconds=0)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    screening_decide_manually(decision=held, outcome=ScreeningDecision.Outcome.REJECT,
                              operator="checker", note="risk confirmed")
    assert transfer.pk in transfers_stuck(older_than_seconds=0)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REJECTED
    assert transfer.compliance_decision.supersedes_id == held.pk
    assert transfer.events.order_by("-id").first().actor == "operator:checker"


def test_a_monitoring_rule_that_fires_holds_the_transfer_and_opens_a_case(corridor):
    from compliance.cases.models import Case
    from compliance.monitoring.services import monitoring_rule_save

    monitoring_rule_save(code="big-amount", kind="threshold", params={"amount_usd": "100"},
                         score=60, corridor_codes=[])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.HOLD
    assert [(r["rule"], r["stage"]) for r in decision.reasons
            if r.get("source") == "monitoring"] == [("big-amount", "created"),
                                                    ("big-amount", "deposit_confirmed")]
    assert decision.list_versions["monitoring:big-amount"] == "1"
    case = Case.objects.get(decision=decision)
    assert case.subject_reference == transfer.reference
    assert not ConversionOrder.objects.filter(reference=transfer.reference).exists()
    assert entries(transfer) == ["funding", "float-reserve"]
