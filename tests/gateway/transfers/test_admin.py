from decimal import Decimal

import pytest

from compliance.cases.models import Case
from compliance.models import ScreeningDecision
from gateway.console.models import AuditEvent
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import credit, debit
from gateway.transfers.models import Transfer
from gateway.transfers.services.machine import Entry, transfer_transition
from gateway.transfers.states import TransferState
from ramps.payouts.models import PayoutAttempt
from tests.gateway.transfers.factories import make_transfer

K = LedgerAccount.Kind


@pytest.fixture
def admin_client_logged_in(admin_client):
    return admin_client  # the shared operator, signed in with two factors (tests/fixtures)


def test_transfer_page_shows_timeline_picture_and_ledger_entries(admin_client_logged_in):
    transfer = make_transfer(state=TransferState.DEPOSIT_SEEN)
    transfer_transition(
        transfer_id=transfer.pk, to_state=TransferState.FUNDED, reason="deposit final",
        entry=Entry(event="funding", description="funding", legs=(
            debit("assets:custody:eip155:31337", "USDC", Decimal("100"), kind=K.ASSET),
            credit("liabilities:transfers:USDC", "USDC", Decimal("100"), kind=K.LIABILITY))),
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


def held_transfer():
    transfer = make_transfer(state=TransferState.ON_HOLD)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=held)
    return transfer, held


def act(client, action: str, transfer, reason: str = "documents checked", **extra):
    return client.post("/admin/transfers/transfer/", {
        "action": action, "_selected_action": [transfer.pk], "confirm": "yes",
        "reason": reason, **extra}, follow=True)


def test_approval_from_the_list_needs_a_second_operator(operator_client,
                                                        django_capture_on_commit_callbacks):
    maker = operator_client("amina", roles=["compliance"])
    checker = operator_client("bongani", roles=["compliance"])
    transfer, held = held_transfer()
    # the action first asks for a reason
    page = maker.post("/admin/transfers/transfer/", {"action": "approve_held",
                                                      "_selected_action": [transfer.pk]})
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD

    response = act(maker, "approve_held", transfer, "salary slip matches")
    assert "approve proposed on case" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD
    assert not ScreeningDecision.objects.filter(supersedes=held).exists()
    assert Case.objects.get(decision=held).status == Case.Status.PENDING_CONFIRMATION

    # the maker cannot confirm their own proposal
    again = act(maker, "approve_held", transfer, "me again")
    assert "cannot confirm" in again.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD
    assert not ScreeningDecision.objects.filter(supersedes=held).exists()

    with django_capture_on_commit_callbacks(execute=False):
        act(checker, "approve_held", transfer, "agreed")
    transfer.refresh_from_db()
    assert transfer.state == TransferState.APPROVED
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.APPROVE
    assert decision.decided_by == "bongani"
    assert decision.supersedes_id == held.pk
    assert transfer.events.order_by("-id").first().actor == "operator:bongani"
    case = Case.objects.get(decision=held)
    assert (case.status, case.proposed_by.username, case.confirmed_by.username) == (
        "closed", "amina", "bongani")
    trail = list(AuditEvent.objects.filter(subject_reference=transfer.reference)
                 .order_by("id").values_list("actor_username", "action", "outcome", "reason"))
    assert trail == [
        ("amina", "transfers.approve_held", "done", "salary slip matches"),
        ("amina", "transfers.approve_held", "failed", "me again"),
        ("bongani", "transfers.approve_held", "done", "agreed")]
    last = AuditEvent.objects.filter(subject_reference=transfer.reference).latest("id")
    assert last.before["state"] == "on_hold"
    assert last.after["state"] == "approved"


def test_a_rejection_cannot_confirm_a_proposed_approval(operator_client):
    maker = operator_client("amina", roles=["compliance"])
    other = operator_client("bongani", roles=["compliance"])
    transfer, held = held_transfer()
    act(maker, "approve_held", transfer)
    response = act(other, "reject_held", transfer, "looks wrong")
    assert "amina proposed to approve" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD
    assert not ScreeningDecision.objects.filter(supersedes=held).exists()


def test_an_empty_reason_is_asked_again(operator_client):
    client = operator_client("amina", roles=["compliance"])
    transfer, _ = held_transfer()
    response = client.post("/admin/transfers/transfer/", {
        "action": "approve_held", "_selected_action": [transfer.pk], "confirm": "yes",
        "reason": "   "})
    assert response.status_code == 422
    assert "A reason is required" in response.content.decode()
    assert not Case.objects.filter(status=Case.Status.PENDING_CONFIRMATION).exists()
    assert not AuditEvent.objects.filter(action="transfers.approve_held").exists()


def test_approving_a_transfer_that_is_not_held_changes_nothing(admin_client_logged_in):
    transfer = make_transfer(state=TransferState.FUNDED)
    response = act(admin_client_logged_in, "approve_held", transfer)
    assert response.status_code == 200
    transfer.refresh_from_db()
    assert transfer.state == TransferState.FUNDED
    assert "Only a transfer held by compliance can be decided" in response.content.decode()


def test_failed_payout_actions_need_their_own_permission(operator_client):
    transfer = make_transfer(state=TransferState.PAYOUT_FAILED)
    support = operator_client("sipho", roles=["support"])
    offered = support.get("/admin/transfers/transfer/").content.decode()
    for action in ("retry_payout", "reroute_payout", "refund_failed_payout"):
        assert f'value="{action}"' not in offered
        response = support.post("/admin/transfers/transfer/", {
            "action": action, "_selected_action": [transfer.pk], "confirm": "yes",
            "reason": "asked by the sender"})
        # An action the role is not offered is refused: the list again (302 when the role has
        # other actions, such as resending webhooks), or 403.
        assert response.status_code in (200, 302, 403)
        transfer.refresh_from_db()
        assert transfer.state == TransferState.PAYOUT_FAILED
    assert PayoutAttempt.objects.count() == 0


def test_treasury_refund_of_a_failed_payout_without_a_credited_deposit_says_why(
        operator_client):
    transfer = make_transfer(state=TransferState.PAYOUT_FAILED)
    treasury = operator_client("wanjiku", roles=["treasury"])
    maker = operator_client("otieno", roles=["treasury"])  # refunds need a second operator
    assert "a second operator must run the same action" in act(
        maker, "refund_failed_payout", transfer, reason="sender asked").content.decode()
    response = act(treasury, "refund_failed_payout", transfer, reason="sender asked")
    assert "has no credited deposit to refund" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.PAYOUT_FAILED
    act(maker, "reroute_payout", transfer, reason="rail down")
    response = act(treasury, "reroute_payout", transfer, reason="rail down")
    assert "Choose the rail to pay on." in response.content.decode()
    response = act(treasury, "retry_payout", make_transfer(state=TransferState.COMPLETED,
                                                           corridor=transfer.corridor),
                   reason="again")
    assert "only a failed payout can be started again" in response.content.decode()
    assert PayoutAttempt.objects.count() == 0


def test_a_reorg_hold_is_not_released_from_the_admin(operator_client):
    transfer = make_transfer(state=TransferState.ON_HOLD, holds=["reorg"],
                             hold_reason="deep chain reorganisation")
    treasury = operator_client("wanjiku", roles=["treasury"])
    response = act(treasury, "release_held", transfer, reason="looks fine")
    assert "while it is held for reorg" in response.content.decode()
    transfer.refresh_from_db()
    assert (transfer.state, transfer.holds) == (TransferState.ON_HOLD, ["reorg"])
