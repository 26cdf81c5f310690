"""Deposits (``services/deposits.py``): the steps of ``awaiting_deposit`` and ``deposit_seen``:
seen, reorged away, credited once final, underpaid, expired, flagged."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from gateway.ledger.models import LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.transfers.models import Transfer
from gateway.transfers.services.deposits import transfer_fund
from gateway.transfers.services.driver import transfer_advance, transfers_stuck
from gateway.transfers.states import TransferState
from ramps.chain.models import Deposit
from tests.gateway.transfers.flow import (
    add_deposit,
    assert_nothing_moved_money,
    entries,
    new_transfer,
    path,
    watcher_past_window,
)

S = TransferState
K = LedgerAccount.Kind


@pytest.mark.parametrize("status", [Deposit.Status.CONFIRMED, Deposit.Status.SEEN])
def test_an_underpayment_waits_in_deposit_seen_with_nothing_credited(corridor, status):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, amount=99_999_999, status=status)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    deposit.refresh_from_db()
    transfer.refresh_from_db()
    assert deposit.credited_at is None
    assert transfer.amount_received_base_units == 0
    assert transfer.compliance_decision is None
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN)]


def test_an_unconfirmed_deposit_covering_the_amount_is_not_credited(corridor):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, status=Deposit.Status.SEEN)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    deposit.refresh_from_db()
    assert deposit.credited_at is None
    assert entries(transfer) == []


def test_a_reorged_deposit_sends_the_transfer_back_to_awaiting(corridor):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, status=Deposit.Status.SEEN)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REORGED)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    assert entries(transfer) == []


def test_a_deposit_of_another_token_is_ignored(corridor):
    from ramps.chain.models import Token

    transfer = new_transfer(corridor)
    other = Token.objects.create(chain=corridor.token.chain, symbol="USDT",
                                 contract_address="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                                 decimals=6)
    add_deposit(transfer, token=other)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    assert entries(transfer) == []


def test_two_confirmed_deposits_that_cover_the_amount_are_both_credited(corridor):
    transfer = new_transfer(corridor)
    first = add_deposit(transfer, amount=60_000_000)
    second = add_deposit(transfer, amount=40_000_001)
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.credited_at is not None
    assert second.credited_at is not None
    transfer.refresh_from_db()
    assert transfer.amount_received_base_units == 100_000_001
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(
        "-0.000001")


def test_a_deposit_for_an_expired_transfer_is_never_credited(corridor):
    transfer = new_transfer(corridor, deposit_expires_at=timezone.now() - timedelta(seconds=1))
    watcher_past_window(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    deposit = add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    assert transfer_fund(transfer_id=transfer.pk, deposits=[deposit]).state == S.EXPIRED
    deposit.refresh_from_db()
    transfer.refresh_from_db()
    assert deposit.credited_at is None
    assert transfer.amount_received_base_units == 0
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.EXPIRED)]


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_loses_the_funding_race_does_nothing(corridor):
    transfer = new_transfer(corridor, state=S.DEPOSIT_SEEN)
    deposit = add_deposit(transfer)
    errors: list[BaseException] = []

    def late_worker() -> None:
        try:
            transfer_advance(transfer_id=transfer.pk, max_steps=1)
        except BaseException as exc:  # asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        # Hold the transfer's row lock, as a first worker funding it does.
        Transfer.objects.select_for_update().get(pk=transfer.pk)
        worker = threading.Thread(target=late_worker)
        worker.start()
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                # Statistics views are a snapshot per transaction: clear it before each look.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'")
                if cursor.fetchone()[0] == 1:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the second worker never waited for the transfer")
        transfer_fund(transfer_id=transfer.pk, deposits=[deposit])
    worker.join(30)
    transfer.refresh_from_db()
    assert transfer.state == S.FUNDED
    assert entries(transfer) == ["funding", "float-reserve"]
    assert errors == []


def test_an_underpaid_transfer_is_held_when_its_deposit_window_ends(corridor):
    transfer = new_transfer(corridor)
    add_deposit(transfer, amount=40_000_000)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    Transfer.objects.filter(pk=transfer.pk).update(
        deposit_expires_at=timezone.now() - timedelta(seconds=1))
    assert transfer.pk in transfers_stuck(older_than_seconds=3600)
    watcher_past_window(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "underpaid"
    assert "40.000000 of 100.000000 USDC" in transfer.events.order_by("-id").first().reason
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)


def test_a_flagged_deposit_is_never_credited_and_the_address_closes_with_the_transfer(corridor):
    transfer = new_transfer(corridor)
    flagged = add_deposit(transfer)
    Deposit.objects.filter(pk=flagged.pk).update(flag=Deposit.Flag.ADDRESS_CLOSED)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    flagged.refresh_from_db()
    assert flagged.credited_at is None
    assert entries(transfer) == []
    Transfer.objects.filter(pk=transfer.pk).update(
        deposit_expires_at=timezone.now() - timedelta(seconds=1))
    watcher_past_window(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    transfer.deposit_address.refresh_from_db()
    assert transfer.deposit_address.closed_at is not None
