"""The driver (``services/driver.py``): a transfer from its deposit to a completed payout, two
workers on one transfer, and what the re-drive picks up."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from compliance.models import SanctionsList, ScreeningDecision
from gateway.ledger.models import LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.transfers.models import Transfer
from gateway.transfers.services.driver import transfer_advance, transfers_stuck
from gateway.transfers.states import TransferState
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt
from tests.gateway.transfers.flow import (
    PAID,
    RAIL_FLOAT,
    add_deposit,
    entries,
    new_transfer,
    path,
    payments,
    replay,
    result_path,
    run_in_threads,
)

S = TransferState
K = LedgerAccount.Kind


def test_confirmed_deposit_runs_to_payout_and_the_daraja_result_completes_it(
        corridor, callbacks_to_receiver, daraja_sandbox, client):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer)

    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN),
                              (S.DEPOSIT_SEEN, S.FUNDED), (S.FUNDED, S.APPROVED),
                              (S.APPROVED, S.CONVERTING), (S.CONVERTING, S.PAYOUT_PENDING)]
    deposit.refresh_from_db()
    assert deposit.credited_at is not None
    assert transfer.amount_received_base_units == 100_000_000
    decision = transfer.compliance_decision
    assert (decision.outcome, decision.reasons) == (ScreeningDecision.Outcome.APPROVE, [])
    assert decision.list_versions == {"ofac-crypto": SanctionsList.objects.get(
        source="ofac-crypto", is_active=True).version}
    order = ConversionOrder.objects.get(reference=transfer.reference)
    assert (order.status, order.side, order.amount_base) == (
        ConversionOrder.Status.FILLED, "sell", Decimal("99.000000"))
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert (attempt.status, attempt.amount, attempt.recipient_msisdn) == (
        PayoutAttempt.Status.SUBMITTED, Decimal("12700.00"), PAID)
    assert entries(transfer) == ["funding", "float-reserve", "conversion"]

    [result] = callbacks_to_receiver.wait_for(attempt.reference)
    assert result.path == result_path()
    assert result.path.startswith("/callbacks/payouts/mpesa-ke/")
    response = replay(client, result)
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}

    transfer.refresh_from_db()
    attempt.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert transfer.sender_status == "completed"
    assert attempt.status == PayoutAttempt.Status.SUCCEEDED
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert entries(transfer) == ["funding", "float-reserve", "conversion", "float-committed"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        RAIL_FLOAT - Decimal("12700.00"))
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal("0.00")
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    # Nothing more to do for a completed transfer.
    assert transfer_advance(transfer_id=transfer.pk).state == S.COMPLETED
    assert len(payments(daraja_sandbox, attempt)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_advancing_one_transfer_convert_and_pay_once(corridor, daraja_sandbox,
                                                                 callbacks_to_receiver):
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk, max_steps=2)
    assert transfer.state == S.APPROVED

    results, errors = run_in_threads(2, lambda: transfer_advance(transfer_id=transfer.pk).state)
    assert errors == []
    # The loser may stop in converting while the winner's order is in flight (it only asks).
    assert S.PAYOUT_PENDING in results
    assert set(results) <= {S.CONVERTING, S.PAYOUT_PENDING}
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    [attempt] = PayoutAttempt.objects.filter(owner_reference=transfer.reference)
    callbacks_to_receiver.wait_for(attempt.reference)
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert entries(transfer) == ["funding", "float-reserve", "conversion"]
    assert path(transfer).count((S.APPROVED, S.CONVERTING)) == 1
    assert path(transfer).count((S.CONVERTING, S.PAYOUT_PENDING)) == 1


def test_transfers_stuck_returns_active_transfers_left_alone_and_expiring_ones(corridor):
    old = timezone.now() - timedelta(minutes=10)
    approved_old = new_transfer(corridor, state=S.APPROVED)
    approved_recent = new_transfer(corridor, state=S.APPROVED)
    pending_old = new_transfer(corridor, state=S.PAYOUT_PENDING)
    held_old = new_transfer(corridor, state=S.ON_HOLD)
    completed_old = new_transfer(corridor, state=S.COMPLETED)
    seen_old = new_transfer(corridor, state=S.DEPOSIT_SEEN)
    awaiting_expired = new_transfer(corridor,
                                    deposit_expires_at=timezone.now() - timedelta(seconds=1))
    awaiting_open = new_transfer(corridor)
    Transfer.objects.filter(pk__in=[approved_old.pk, pending_old.pk, held_old.pk,
                                    completed_old.pk, seen_old.pk, awaiting_open.pk]).update(
        updated_at=old)
    assert transfers_stuck(older_than_seconds=60) == sorted(
        [approved_old.pk, pending_old.pk, awaiting_expired.pk])
    assert approved_recent.pk not in transfers_stuck(older_than_seconds=60)
