"""Payouts (``services/payouts.py``): the rail's results, duplicated, unknown or posted by the
sandbox itself, settle a payout once."""

import json
import time
from decimal import Decimal

import pytest

from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.transfers.models import Transfer
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.states import TransferState
from ramps.payouts.models import PayoutAttempt, PayoutCallback
from tests.gateway.transfers.flow import (
    PAID_WITH_DUPLICATE_CALLBACK,
    RAIL_FLOAT,
    add_deposit,
    entries,
    new_transfer,
    path,
    payments,
    replay,
    result_path,
)

S = TransferState
K = LedgerAccount.Kind


def test_the_same_result_callback_twice_pays_and_books_once(corridor, callbacks_to_receiver,
                                                            daraja_sandbox, client):
    transfer = new_transfer(corridor, phone=PAID_WITH_DUPLICATE_CALLBACK)
    add_deposit(transfer)
    transfer_advance(transfer_id=transfer.pk)
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)

    first, second = callbacks_to_receiver.wait_for(attempt.reference, count=2)
    assert first.body == second.body
    assert replay(client, first).status_code == 200
    assert replay(client, second).status_code == 200
    assert replay(client, first).status_code == 200

    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert path(transfer).count((S.PAYOUT_PENDING, S.COMPLETED)) == 1
    assert JournalEntry.objects.filter(
        reference=f"treasury:{transfer.public_id}:float-committed").count() == 1
    assert list(PayoutCallback.objects.filter(attempt=attempt).order_by("id")
                .values_list("processing_status", flat=True)) == [
        PayoutCallback.ProcessingStatus.APPLIED, PayoutCallback.ProcessingStatus.DUPLICATE,
        PayoutCallback.ProcessingStatus.DUPLICATE]
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        RAIL_FLOAT - Decimal("12700.00"))


def test_a_callback_for_an_unknown_reference_or_rail_changes_nothing(corridor, client):
    transfer = new_transfer(corridor, state=S.PAYOUT_PENDING)
    body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
                       "OriginatorConversationID": "not-ours", "ConversationID": "AG_1",
                       "TransactionID": "SBX1"}}
    response = client.post(result_path(), data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 200
    callback = PayoutCallback.objects.get()
    assert (callback.processing_status, callback.reference, callback.attempt) == (
        PayoutCallback.ProcessingStatus.UNMATCHED, "not-ours", None)
    response = client.post(result_path().replace("mpesa-ke", "no-such-rail"),
                           data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert PayoutCallback.objects.count() == 1
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_PENDING
    assert entries(transfer) == []


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_posts_its_results_to_the_live_gateway_and_a_duplicate_is_ignored(
        corridor, settings, live_server, daraja_sandbox):
    settings.PUBLIC_BASE_URL = live_server.url
    transfer = new_transfer(corridor, phone=PAID_WITH_DUPLICATE_CALLBACK)
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state in (S.PAYOUT_PENDING, S.COMPLETED)
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    # The callback row commits before the view acts on it: wait for both callbacks and for
    # the transfer's completion, not for the callbacks alone (that raced on a busy machine).
    # A result that arrives before Daraja's ConversationID is recorded is held and confirmed by
    # a status query (one more callback, its answer): wait until none is held.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            PayoutCallback.objects.filter(attempt=attempt).count() < 2
            or PayoutCallback.objects.filter(
                attempt=attempt, processing_status=PayoutCallback.ProcessingStatus.UNCONFIRMED
            ).exists()
            or Transfer.objects.get(pk=transfer.pk).state != S.COMPLETED):
        time.sleep(0.05)
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    statuses = list(PayoutCallback.objects.filter(attempt=attempt)
                    .values_list("processing_status", flat=True))
    assert set(statuses) == {PayoutCallback.ProcessingStatus.APPLIED,
                             PayoutCallback.ProcessingStatus.DUPLICATE}
    assert entries(transfer) == ["funding", "float-reserve", "conversion", "float-committed"]
    assert path(transfer).count((S.PAYOUT_PENDING, S.COMPLETED)) == 1
    assert len(payments(daraja_sandbox, attempt)) == 1
