"""PATCH /api/v1/transfers/{id}: the sender's correction after a failed payout."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from gateway.partners.services import partner_api_key_create
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.states import TransferState
from ramps.payouts.models import PayoutAttempt
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.gateway.transfers.test_ways_out import (  # noqa: F401 (world is a fixture)
    PAID,
    deliver_results,
    fail_payout,
    paid,
    world,
)

S = TransferState
PROBLEM = "application/problem+json"


def api_for(partner) -> APIClient:
    _, key = partner_api_key_create(partner=partner, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def patch(client, transfer, body, **headers):
    return client.patch(f"/api/v1/transfers/{transfer.public_id}", data=json.dumps(body),
                        content_type="application/json", **headers)


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def test_a_corrected_recipient_is_paid_once_on_the_same_quote(
        world, client, daraja_sandbox):  # noqa: F811 (the imported fixture)
    _w3, _token, corridor, receiver = world
    transfer = fail_payout(corridor, receiver, client, daraja_sandbox)
    api = api_for(transfer.partner)
    shown = api.get(f"/api/v1/transfers/{transfer.public_id}").json()
    assert shown["status"] == "pending_transaction_info_update"
    assert shown["required_info_updates"] == ["recipient.phone_number", "recipient.name"]

    # A number the rail cannot pay is refused as at creation; nothing changes, nothing is paid.
    bad = patch(api, transfer, {"recipient": {"phone_number": "+256772123456"}})
    assert_problem(bad, 422, "invalid-recipient")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1

    body = {"recipient": {"phone_number": "0708374149", "name": "Joseph Mwangi"}}
    corrected = patch(api, transfer, body, HTTP_IDEMPOTENCY_KEY="fix-1")
    assert corrected.status_code == 200, corrected.content
    assert corrected.json()["status"] == "pending_external"
    assert corrected.json()["state"] == "payout_pending"
    assert corrected.json()["required_info_updates"] is None
    assert corrected.json()["amount_out"] == shown["amount_out"]
    assert corrected.json()["quote_id"] == shown["quote_id"]
    transfer.refresh_from_db()
    assert transfer.recipient["phone_number"] == PAID

    transfer = transfer_advance(transfer_id=transfer.pk)
    deliver_results(client, receiver, PayoutAttempt.objects.filter(
        owner_reference=transfer.reference).order_by("-id").first())
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1

    # The same request retried with its key replays the first answer; without, it is too late.
    replay = patch(api, transfer, body, HTTP_IDEMPOTENCY_KEY="fix-1")
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == corrected.json()
    late = assert_problem(patch(api, transfer, body), 409, "transfer-not-correctable")
    assert late["transfer_state"] == "completed"
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 2


@pytest.fixture
def setup(db):
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return partner, make_corridor(), client


@pytest.mark.parametrize("state", [S.AWAITING_DEPOSIT, S.ON_HOLD, S.PAYOUT_PENDING, S.COMPLETED,
                                   S.REFUNDED, S.CANCELLED])
def test_a_correction_outside_a_failed_payout_is_409_and_changes_nothing(setup, state):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor, state=state)
    body = assert_problem(patch(client, transfer, {"recipient": {"name": "Someone Else"}}), 409,
                          "transfer-not-correctable")
    assert body["transfer_state"] == state
    transfer.refresh_from_db()
    assert transfer.state == state
    assert transfer.recipient["name"] == "Joseph Mwangi"
    assert PayoutAttempt.objects.count() == 0


def test_after_the_correction_window_it_is_409_window_closed(setup):
    partner, corridor, client = setup
    transfer = make_transfer(
        partner=partner, corridor=corridor, state=S.PAYOUT_FAILED,
        state_changed_at=timezone.now() - corridor.correction_window - timedelta(seconds=1))
    assert_problem(patch(client, transfer, {"recipient": {"phone_number": PAID}}), 409,
                   "correction-window-closed")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert PayoutAttempt.objects.count() == 0


@pytest.mark.parametrize(("body", "field"), [
    ({}, "non_field_errors"),
    ({"recipient": {}}, "non_field_errors"),
    ({"payout_method": "bank"}, "payout_method"),
    ({"recipient": {"name": ""}}, "recipient"),
    ({"recipient": {"phone_number": "x" * 33}}, "recipient"),
    ({"recipient": "Joseph"}, "recipient"),
])
def test_malformed_corrections_are_problems_and_change_nothing(setup, body, field):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor, state=S.PAYOUT_FAILED)
    response = patch(client, transfer, body)
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"] == PROBLEM
    assert field in response.json()["errors"]
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert PayoutAttempt.objects.count() == 0


def test_cash_pickup_is_refused_where_the_corridor_has_none(setup):
    partner, corridor, client = setup
    transfer = make_transfer(partner=partner, corridor=corridor, state=S.PAYOUT_FAILED)
    assert_problem(patch(client, transfer, {"payout_method": "cash_pickup"}), 422,
                   "invalid-recipient")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED


def test_another_partners_transfer_cannot_be_corrected(setup):
    _, corridor, client = setup
    other, _ = make_partner()
    theirs = make_transfer(partner=other, corridor=corridor, state=S.PAYOUT_FAILED)
    assert_problem(patch(client, theirs, {"recipient": {"name": "Mallory"}}), 404, "not-found")
    theirs.refresh_from_db()
    assert theirs.recipient["name"] == "Joseph Mwangi"


def test_a_transfer_switched_to_cash_pickup_is_corrected_by_cash_pickup_rules(setup):
    """Its payout is cash pickup now: a new number is checked as cash pickup checks it (any
    mobile that receives the code by SMS), not by the corridor's mobile-money rail."""
    from ramps.payouts.agents.models import AgentNetwork, CashPickupCorridor

    partner, corridor, client = setup
    CashPickupCorridor.objects.create(
        corridor=corridor, network=AgentNetwork.objects.create(code="net", name="Agents"))
    transfer = make_transfer(partner=partner, corridor=corridor, state=S.PAYOUT_FAILED,
                             payout_method="cash_pickup")
    airtel = "+254733123456"  # not an M-Pesa line, but it receives an SMS
    response = patch(client, transfer, {"recipient": {"phone_number": airtel}})
    assert response.status_code == 200, response.content
    transfer.refresh_from_db()
    assert (transfer.state, transfer.recipient["phone_number"]) == (S.PAYOUT_PENDING, airtel)
    assert transfer.payout_method == "cash_pickup"
    assert PayoutAttempt.objects.count() == 0
    # A fixed line cannot receive the code: refused as at creation.
    other = make_transfer(partner=partner, corridor=corridor, state=S.PAYOUT_FAILED,
                          payout_method="cash_pickup")
    assert_problem(patch(client, other, {"recipient": {"phone_number": "+254202222222"}}), 422,
                   "invalid-recipient")
