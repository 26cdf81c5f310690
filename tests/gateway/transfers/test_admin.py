from decimal import Decimal

import pytest

from compliance.models import ScreeningDecision
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit
from gateway.transfers.models import Transfer
from gateway.transfers.services import transfer_transition
from gateway.transfers.states import TransferState
from tests.factories import make_transfer

K = LedgerAccount.Kind


@pytest.fixture
def admin_client_logged_in(admin_client):
    return admin_client  # the shared operator, signed in with two factors (tests/fixtures)


def test_transfer_page_shows_timeline_picture_and_ledger_entries(admin_client_logged_in):
    transfer = make_transfer(state=TransferState.DEPOSIT_SEEN)
    transfer_transition(
        transfer_id=transfer.pk, to_state=TransferState.FUNDED, reason="deposit final",
        ledger_reference=f"transfer:{transfer.public_id}:funding", ledger_description="funding",
        legs=[debit("assets:custody:eip155:31337", "USDC", Decimal("100"), kind=K.ASSET),
              credit("liabilities:transfers:USDC", "USDC", Decimal("100"), kind=K.LIABILITY)],
    )
    page = admin_client_logged_in.get(f"/admin/transfers/transfer/{transfer.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html
    assert html.count("<circle") == 2  # deposit_seen (setup) and funded
    assert f"transfer:{transfer.public_id}:funding" in html
    assert "assets:custody:eip155:31337" in html
    listing = admin_client_logged_in.get("/admin/transfers/transfer/")
    assert listing.status_code == 200
    assert str(transfer.public_id) in listing.content.decode()


def test_money_cannot_be_edited_or_added_in_the_admin(admin_client_logged_in):
    transfer = make_transfer()
    assert admin_client_logged_in.get("/admin/transfers/transfer/add/").status_code == 403
    page = admin_client_logged_in.post(f"/admin/transfers/transfer/{transfer.pk}/change/",
                                       {"amount_out": "999999.00", "state": "completed"})
    transfer.refresh_from_db()
    assert transfer.amount_out == Decimal("12700.00")
    assert transfer.state == TransferState.AWAITING_DEPOSIT
    assert page.status_code in (200, 302, 403)
    assert admin_client_logged_in.get("/admin/ledger/journalentry/add/").status_code == 403


def test_operator_approves_a_held_transfer_from_the_admin(admin_client_logged_in,
                                                          django_capture_on_commit_callbacks):
    transfer = make_transfer(state=TransferState.ON_HOLD)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=held)
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client_logged_in.post("/admin/transfers/transfer/", {
            "action": "approve_held", "_selected_action": [transfer.pk]})
    assert response.status_code == 302
    transfer.refresh_from_db()
    assert transfer.state == TransferState.APPROVED
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.APPROVE
    assert decision.decided_by == "ops"
    assert decision.supersedes_id == held.pk
    assert transfer.events.order_by("-id").first().actor == "operator:ops"


def test_approving_a_transfer_that_is_not_held_changes_nothing(admin_client_logged_in):
    transfer = make_transfer(state=TransferState.FUNDED)
    response = admin_client_logged_in.post("/admin/transfers/transfer/", {
        "action": "approve_held", "_selected_action": [transfer.pk]}, follow=True)
    assert response.status_code == 200
    transfer.refresh_from_db()
    assert transfer.state == TransferState.FUNDED
    assert "Only a transfer held by compliance can be decided" in response.content.decode()
