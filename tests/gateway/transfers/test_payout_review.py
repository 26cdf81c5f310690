"""A payout the provider keeps reporting pending goes before an operator, and is never paid twice.

The Daraja sandbox's digit 7 accepts a payment and never completes it; its status query answers
"Pending". Past the rail's ``unsettled_review_seconds`` (with at least one status query asked)
the transfer moves from ``payout_pending`` (SEP-31 ``pending_external``) to ``payout_review``
(``on_hold``, with named actions). The status queries go on there: if the provider pays late the
transfer completes; if it says nothing was paid the payout fails for a correction, retry or
refund. A retry or a refund asked for under review first asks the provider, and is refused
while it still says pending.
"""

import datetime

import pytest
from rest_framework.test import APIClient

from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.selectors import unbalanced_entries
from gateway.partners.services import partner_api_key_create
from gateway.transfers.services.actions import transfer_payout_refund, transfer_payout_settle
from gateway.transfers.services.driver import transfer_advance, transfers_stuck
from gateway.transfers.services.payouts import (
    PayoutUnsettledError,
    transfer_payout_retry,
    transfer_payout_unsettled_resolve,
)
from gateway.transfers.states import ACTIONS, SENDER_STATUS, TransferState
from gateway.treasury.models import FloatReservation
from ramps.payouts.models import PayoutAttempt, PayoutStatusQuery
from tests.gateway.transfers.test_ways_out import (  # the same world: anvil, exchange, Daraja
    deliver_results,
    new_transfer,
    paid,
    pay_in,
    world,  # noqa: F401 - a fixture
)

S = TransferState
STUCK_PENDING = "+254708374147"  # last digit 7: accepted, never completes, status: Pending
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def review_soon(world, settings):  # noqa: F811 - the fixture imported above
    """The rail puts an unsettled payout before an operator at once (after one status query),
    and the driver asks the provider whenever it runs."""
    settings.TRANSFER_STUCK_AFTER_SECONDS = 0
    _w3, _token, corridor, receiver = world
    corridor.rail.unsettled_review_seconds = 0
    corridor.rail.save(update_fields=["unsettled_review_seconds"])
    return corridor, receiver


def under_review(corridor, receiver, client):
    """A digit-7 transfer driven until it waits under review, the provider's answer (Pending)
    to the status query delivered."""
    transfer = new_transfer(corridor, phone=STUCK_PENDING)
    pay_in(transfer, PAYER)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert attempt.status == PayoutAttempt.Status.SUBMITTED
    transfer = transfer_advance(transfer_id=transfer.pk)  # asks the provider, then reviews
    assert transfer.state == S.PAYOUT_REVIEW
    assert PayoutStatusQuery.objects.filter(attempt=attempt).exists()
    deliver_results(client, receiver, attempt)
    attempt.refresh_from_db()
    assert attempt.status == PayoutAttempt.Status.SUBMITTED  # "Pending" changes nothing
    return transfer, attempt


def answer(client, receiver, attempt) -> None:
    """Wait until Daraja has answered every status query asked about ``attempt`` (each answer
    arrives on its own time, so the count of queries, not of answers seen so far, says which one
    is the latest), and deliver the answers to the gateway (the earlier ones change nothing)."""
    queries = PayoutStatusQuery.objects.filter(attempt=attempt).count()
    found = receiver.wait_for(attempt.reference, count=queries, timeout=15)
    assert len(found) >= queries, "Daraja did not answer every status query"
    deliver_results(client, receiver, attempt)


def settle_late(sandbox, attempt, *, paid_out: bool) -> None:
    """The provider finishes the payment it held (what a real M-Pesa does hours later)."""
    with sandbox.lock:
        record = sandbox.transactions[attempt.reference]
        if paid_out:
            record.update(status="completed", result_code=0,
                          completed_at=datetime.datetime.now(datetime.UTC))
        else:
            record.update(status="failed", result_code=1)
    if paid_out:
        sandbox.record_payment(reference=attempt.reference,
                               conversation_id=record["conversation_id"],
                               transaction_id=record["transaction_id"], msisdn=record["msisdn"],
                               amount=str(record["amount"]), currency="KES",
                               scenario="stuck_pending")


def test_the_rule_in_the_state_table():
    assert SENDER_STATUS[S.PAYOUT_PENDING] == "pending_external"
    assert SENDER_STATUS[S.PAYOUT_REVIEW] == "on_hold"  # waiting on a named action
    names = {action.service.rpartition(".")[2] for action in ACTIONS[S.PAYOUT_REVIEW]}
    assert names == {"transfer_payout_settle", "transfer_payout_retry",
                     "transfer_payout_refund"}


def test_a_payout_pending_at_the_provider_is_not_reviewed_before_the_rails_bound(
        world, settings, client, daraja_sandbox):  # noqa: F811
    settings.TRANSFER_STUCK_AFTER_SECONDS = 0
    _w3, _token, corridor, _receiver = world
    assert corridor.rail.unsettled_review_seconds == 1800  # the default: half an hour
    transfer = new_transfer(corridor, phone=STUCK_PENDING)
    pay_in(transfer, PAYER)
    transfer_advance(transfer_id=transfer.pk)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING  # asked, still pending, inside the bound
    assert PayoutStatusQuery.objects.filter(attempt__owner_reference=transfer.reference).exists()


def test_under_review_the_sender_sees_on_hold_and_the_operator_queue_lists_it(
        review_soon, client, daraja_sandbox):
    corridor, receiver = review_soon
    transfer, _attempt = under_review(corridor, receiver, client)
    _, key = partner_api_key_create(partner=transfer.partner, name="sender")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    body = api.get(f"/api/v1/transfers/{transfer.public_id}").json()
    assert (body["status"], body["state"]) == ("on_hold", "payout_review")
    from gateway.console.selectors import attention_queue

    assert [item.kind for item in attention_queue()
            if str(transfer.public_id)[:8] in item.detail] == ["payout_review"]
    # The re-drive keeps asking the provider about it.
    assert transfer.pk in transfers_stuck(older_than_seconds=0)


def test_retry_and_refund_are_refused_while_the_provider_says_pending(review_soon, client,
                                                                       daraja_sandbox):
    corridor, receiver = review_soon
    transfer, attempt = under_review(corridor, receiver, client)
    asked = PayoutStatusQuery.objects.filter(attempt=attempt).count()
    with pytest.raises(PayoutUnsettledError, match="may still be paid"):
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="sender called")
    with pytest.raises(PayoutUnsettledError):
        transfer_payout_refund(transfer_id=transfer.pk, actor="operator:ops", note="refund it")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_REVIEW
    # Each refusal asked the provider again; nothing was sent, nothing was paid.
    assert PayoutStatusQuery.objects.filter(attempt=attempt).count() == asked + 2
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    assert paid(daraja_sandbox, transfer) == []
    assert FloatReservation.objects.get(
        transfer_reference=transfer.reference).status == FloatReservation.Status.RESERVED


def test_a_provider_that_pays_late_completes_the_transfer_under_review_once(
        review_soon, client, daraja_sandbox):
    corridor, receiver = review_soon
    transfer, attempt = under_review(corridor, receiver, client)
    settle_late(daraja_sandbox, attempt, paid_out=True)
    # An operator asks for a retry: the provider is asked first, its answer is "Completed".
    with pytest.raises(PayoutUnsettledError):  # Daraja answers later, at the callback URL
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="sender called")
    answer(client, receiver, attempt)
    attempt.refresh_from_db()
    assert attempt.status == PayoutAttempt.Status.SUCCEEDED
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.COMPLETED
    with pytest.raises(InvalidTransitionError):
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="again")
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    assert FloatReservation.objects.get(
        transfer_reference=transfer.reference).status == FloatReservation.Status.COMMITTED
    assert unbalanced_entries() == []


def test_once_the_provider_says_not_paid_the_retry_pays_once(review_soon, client,
                                                             daraja_sandbox):
    corridor, receiver = review_soon
    transfer, attempt = under_review(corridor, receiver, client)
    settle_late(daraja_sandbox, attempt, paid_out=False)
    with pytest.raises(PayoutUnsettledError):
        transfer_payout_unsettled_resolve(transfer_id=transfer.pk)  # asks; the answer comes
    answer(client, receiver, attempt)
    attempt.refresh_from_db()
    assert attempt.status == PayoutAttempt.Status.FAILED
    transfer = transfer_payout_unsettled_resolve(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_FAILED  # no automatic retry so late
    # The recipient's number is corrected by the operator's retry on another number: here the
    # same rail pays a number that succeeds.
    transfer.recipient = {**transfer.recipient, "phone_number": "+254708374149"}
    transfer.save(update_fields=["recipient"])
    transfer = transfer_payout_retry(transfer_id=transfer.pk, operator="ops",
                                     note="provider confirmed nothing was paid")
    assert transfer.state == S.PAYOUT_PENDING
    retry = PayoutAttempt.objects.filter(owner_reference=transfer.reference).exclude(
        pk=attempt.pk).get()
    transfer_advance(transfer_id=transfer.pk)  # sends the new attempt, once
    deliver_results(client, receiver, retry)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.COMPLETED
    assert [p["reference"] for p in paid(daraja_sandbox, transfer)] == [retry.reference]
    assert unbalanced_entries() == []


@pytest.mark.parametrize("paid_out", [True, False])
def test_an_operator_settles_a_payout_under_review_by_hand_once(review_soon, client,
                                                                daraja_sandbox, paid_out):
    corridor, receiver = review_soon
    transfer, _attempt = under_review(corridor, receiver, client)
    with pytest.raises(DomainError, match="reason"):
        transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=paid_out, note="")
    transfer = transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=paid_out,
                                      note="checked on the provider's portal")
    assert transfer.state == (S.COMPLETED if paid_out else S.PAYOUT_FAILED)
    with pytest.raises(InvalidTransitionError):
        transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=not paid_out,
                               note="changed my mind")
    if not paid_out:  # refunded now: the provider's verdict (by hand) said nothing was paid
        transfer = transfer_payout_refund(transfer_id=transfer.pk, actor="operator:ops",
                                          note="sender asked for the money back")
        assert transfer.state == S.REFUND_PENDING
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    assert paid(daraja_sandbox, transfer) == []
    assert unbalanced_entries() == []
