"""POST /api/v1/transfers/{id}/cancel: until funds are seen, final, address closed."""

import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from gateway.common.problems import InvalidTransitionError
from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer, TransferEvent
from gateway.transfers.services.cancel import TransferNotCancellableError, transfer_cancel
from gateway.transfers.services.deposits import transfer_deposit_progress
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.states import TRANSITIONS, TransferState
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from ramps.chain.models import Deposit
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

PROBLEM = "application/problem+json"
S = TransferState


@pytest.fixture
def setup(db):
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    corridor = make_corridor()
    WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/hook")
    return partner, corridor, client


def cancel(client, transfer):
    return client.post(f"/api/v1/transfers/{transfer.public_id}/cancel")


def record_deposit(transfer, *, status=Deposit.Status.SEEN, tx="0x" + "ab" * 32) -> Deposit:
    address = transfer.deposit_address
    return Deposit.objects.create(
        chain=address.chain, token=transfer.corridor.token, deposit_address=address,
        tx_hash=tx, log_index=0, block_number=10, block_hash="0x" + "cd" * 32,
        from_address="0x" + "11" * 20, amount=transfer.amount_in_base_units, status=status)


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def test_cancel_before_any_deposit_is_final_and_closes_the_address(setup):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor)
    response = cancel(client, transfer)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(transfer.public_id)
    assert body["state"] == "cancelled"
    assert body["status"] == "expired"  # SEP-31's word for final and never funded
    assert [e["state"] for e in body["timeline"]] == ["awaiting_deposit", "cancelled"]
    transfer.refresh_from_db()
    assert transfer.state == S.CANCELLED
    assert transfer.deposit_address.closed_at is not None
    event = transfer.events.order_by("-id").first()
    assert (event.from_state, event.to_state, event.actor) == (
        S.AWAITING_DEPOSIT, S.CANCELLED, f"partner:{partner.pk}")
    assert WebhookDelivery.objects.filter(endpoint__partner=partner).count() == 1
    assert JournalEntry.objects.count() == 0
    assert TRANSITIONS[S.CANCELLED] == frozenset()


def test_cancelling_twice_answers_the_same_and_writes_nothing_more(setup):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor)
    first = cancel(client, transfer)
    events = TransferEvent.objects.count()
    deliveries = WebhookDelivery.objects.count()
    second = cancel(client, transfer)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert TransferEvent.objects.count() == events
    assert WebhookDelivery.objects.count() == deliveries


@pytest.mark.parametrize("deposit_status", [Deposit.Status.SEEN, Deposit.Status.CONFIRMED])
def test_a_deposit_seen_before_the_transfer_caught_up_makes_it_too_late(setup, deposit_status):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor)
    deposit = record_deposit(transfer, status=deposit_status)
    body = assert_problem(cancel(client, transfer), 409, "transfer-not-cancellable")
    assert deposit.tx_hash in body["detail"]
    assert body["transfer_state"] == "awaiting_deposit"
    transfer.refresh_from_db()
    assert transfer.state == S.AWAITING_DEPOSIT
    assert transfer.deposit_address.closed_at is None
    assert WebhookDelivery.objects.count() == 0
    # The deposit still moves the transfer on (to deposit_seen, or funded once final).
    moved = transfer_deposit_progress(transfer_id=transfer.pk)
    assert moved.state != S.AWAITING_DEPOSIT


def test_a_partly_paid_transfer_refuses_a_cancel_saying_what_happens_to_the_money(setup):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor, state=S.DEPOSIT_SEEN)
    deposit = record_deposit(transfer)
    Deposit.objects.filter(pk=deposit.pk).update(amount=transfer.amount_in_base_units // 2)

    body = assert_problem(cancel(client, transfer), 409, "transfer-not-cancellable")

    deadline = transfer.deposit_expires_at.isoformat()
    assert body["detail"] == (
        f"A deposit to transfer {transfer.public_id} was seen on chain; it can no longer be "
        "cancelled. Once final, deposits that cover the amount are paid out; deposits short of "
        f"it wait for the rest until {deadline}, then what arrived is refunded or paid out at a "
        "new quote, as an operator decides.")
    assert (body["transfer_status"], body["transfer_state"], body["deposit_expires_at"]) == (
        "pending_sender", "deposit_seen", deadline)
    transfer.refresh_from_db()
    assert (transfer.state, transfer.events.count()) == (S.DEPOSIT_SEEN, 1)
    assert transfer.deposit_address.closed_at is None
    assert WebhookDelivery.objects.count() == 0


def test_a_deposit_removed_by_a_reorg_does_not_prevent_a_cancel(setup):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor)
    record_deposit(transfer, status=Deposit.Status.REORGED)
    assert cancel(client, transfer).json()["state"] == "cancelled"


@pytest.mark.parametrize("state", sorted(set(S.values) - {S.AWAITING_DEPOSIT, S.CANCELLED}))
def test_every_other_state_refuses_a_cancel_and_changes_nothing(setup, state):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor, state=state)
    body = assert_problem(cancel(client, transfer), 409, "transfer-not-cancellable")
    assert body["transfer_state"] == state
    assert body["transfer_status"] == transfer.sender_status
    assert body["status"] == 409
    transfer.refresh_from_db()
    assert transfer.state == state
    assert transfer.events.count() == 1
    assert transfer.deposit_address.closed_at is None
    assert WebhookDelivery.objects.count() == 0


def test_another_partners_or_an_unknown_transfer_is_404(setup):
    _, corridor, client = setup
    other, _ = make_partner()
    theirs = make_transfer(partner=other, corridor=corridor)
    assert_problem(cancel(client, theirs), 404, "not-found")
    assert_problem(client.post(f"/api/v1/transfers/{uuid.uuid4()}/cancel"), 404, "not-found")
    assert_problem(client.post("/api/v1/transfers/nope/cancel"), 404, "not-found")
    theirs.refresh_from_db()
    assert theirs.state == S.AWAITING_DEPOSIT
    assert_problem(client.get(f"/api/v1/transfers/{theirs.public_id}/cancel"), 405,
                   "method-not-allowed")


def test_a_cancelled_transfer_never_moves_again(setup):
    partner, corridor, _ = setup
    transfer = make_transfer(partner=partner, corridor=corridor)
    transfer_cancel(transfer_id=transfer.pk, actor="test")
    for target in (S.DEPOSIT_SEEN, S.EXPIRED, S.FUNDED):
        with pytest.raises(InvalidTransitionError):
            transfer_transition(transfer_id=transfer.pk, to_state=target)
    # A deposit arriving later (flagged by the watcher on the closed address) is not credited.
    late = record_deposit(transfer, status=Deposit.Status.CONFIRMED)
    Deposit.objects.filter(pk=late.pk).update(flag=Deposit.Flag.ADDRESS_CLOSED)
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.CANCELLED
    assert Deposit.objects.get().credited_at is None
    assert JournalEntry.objects.count() == 0


def race_cancel_and_deposit(transfer_id: int) -> list[Exception]:
    """Cancel and the watcher's move to deposit_seen at the same instant; returns the refusals."""
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def run(step) -> None:
        barrier.wait()
        try:
            step()
        except (TransferNotCancellableError, InvalidTransitionError) as exc:
            errors.append(exc)
        finally:
            connection.close()

    steps = [lambda: transfer_cancel(transfer_id=transfer_id, actor="test"),
             lambda: transfer_transition(transfer_id=transfer_id, to_state=S.DEPOSIT_SEEN,
                                         expect_from=frozenset({S.AWAITING_DEPOSIT}))]
    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_the_deposit_watcher_ends_in_exactly_one_outcome():
    corridor = make_corridor()
    outcomes = {"cancelled": 0, "deposit_seen": 0}
    for _ in range(4):
        transfer = make_transfer(corridor=corridor)
        errors = race_cancel_and_deposit(transfer.pk)
        transfer.refresh_from_db()
        assert len(errors) == 1
        assert transfer.state in outcomes
        assert transfer.events.count() == 2
        assert (transfer.deposit_address.closed_at is not None) == (
            transfer.state == S.CANCELLED)
        outcomes[transfer.state] += 1
    assert Transfer.objects.filter(state=S.CANCELLED).count() == outcomes["cancelled"]


def test_a_late_deposit_on_anvil_after_a_cancel_is_flagged_and_never_credited(
        db, anvil, stable_token, chain_factory):
    from ramps.chain.devchain import token_transfer
    from ramps.chain.selectors import deposits_flagged
    from ramps.chain.watcher import chain_scan

    chain = chain_factory(confirmations=1)
    corridor = make_corridor(chain=chain, token_address=stable_token)
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    transfer = make_transfer(partner=partner, corridor=corridor)
    assert cancel(client, transfer).status_code == 200
    anvil.w3.provider.make_request("evm_increaseTime", [2])
    tx_hash = token_transfer(anvil.w3, stable_token, to=transfer.deposit_address.address,
                             amount_base_units=transfer.amount_in_base_units,
                             sender=anvil.w3.eth.accounts[1])
    chain_scan(chain=chain)
    chain_scan(chain=chain)
    late = Deposit.objects.get(deposit_address=transfer.deposit_address)
    assert late.tx_hash == tx_hash.lower()
    assert late.flag == Deposit.Flag.ADDRESS_CLOSED
    assert list(deposits_flagged(chain=chain)) == [late]  # the operators' refund queue
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.CANCELLED
    late.refresh_from_db()
    assert late.credited_at is None
    assert JournalEntry.objects.count() == 0
    # Once funds are on the address, cancelling again still answers the cancelled transfer.
    assert cancel(client, transfer).json()["state"] == "cancelled"
