"""Maker-checker on money-moving operator actions: the first operator's request waits, the
same operator cannot confirm it, a second one runs it with the same choices, once."""

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from gateway.common.operator_actions import operator_action
from gateway.console.models import AuditEvent, PendingApproval
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from ramps.payouts.models import PayoutAttempt
from tests.gateway.console.factories import make_operator
from tests.gateway.transfers.factories import make_transfer

pytestmark = pytest.mark.django_db
runs: list[tuple[str, int, str]] = []


@operator_action(permission="transfers.refund_transfer", description="Pay back",
                 maker_checker=True, extra_fields=lambda request: [
                     {"name": "destination", "label": "To", "choices": [("a", "a"), ("b", "b")]}])
def pay_back(modeladmin, request, transfer, reason):
    runs.append((request.user.get_username(), transfer.pk, request.POST["destination"]))
    return "paid back"


def run(user, transfer, destination="a", reason="sender asked"):
    request = RequestFactory().post("/admin/transfers/transfer/", {
        "confirm": "yes", "reason": reason, "destination": destination}, REMOTE_ADDR="10.0.0.7")
    request.user, request.session = user, {}
    request._messages = FallbackStorage(request)
    pay_back(admin.site._registry[Transfer], request, Transfer.objects.filter(pk=transfer.pk))
    return [message.message for message in request._messages]


@pytest.fixture(autouse=True)
def _runs():
    runs.clear()


def test_a_second_operator_runs_what_the_first_proposed(fast_password_hashing):
    maker = make_operator("amina", roles=["treasury"]).user
    checker = make_operator("kofi", roles=["treasury"]).user
    transfer = make_transfer(state=TransferState.PAYOUT_FAILED)

    assert "a second operator must run the same action" in run(maker, transfer)[0]
    assert runs == []
    pending = PendingApproval.objects.get()
    assert (pending.status, pending.maker, pending.params) == ("pending", maker,
                                                              {"destination": "a"})

    assert "cannot confirm it" in run(maker, transfer)[0]  # the maker again
    assert "amina proposed {'destination': 'a'}" in run(checker, transfer, "b")[0]
    assert runs == []

    assert run(checker, transfer)[0].endswith("paid back (proposed by amina, confirmed).")
    assert runs == [("kofi", transfer.pk, "a")]
    pending.refresh_from_db()
    assert (pending.status, pending.checker) == ("confirmed", checker)
    trail = list(AuditEvent.objects.filter(action="transfers.pay_back").order_by("id")
                 .values_list("actor_username", "outcome"))
    assert trail == [("amina", "done"), ("amina", "failed"), ("kofi", "failed"),
                     ("kofi", "done")]
    # a new request starts a new proposal: the confirmed one is not reused
    assert "a second operator must run" in run(checker, transfer)[0]
    assert runs == [("kofi", transfer.pk, "a")]


def test_a_role_without_the_permission_cannot_propose(fast_password_hashing):
    support = make_operator("sipho", roles=["support"]).user
    transfer = make_transfer(state=TransferState.PAYOUT_FAILED)
    with pytest.raises(PermissionDenied):
        run(support, transfer)
    assert not PendingApproval.objects.exists()
    assert AuditEvent.objects.get(action="transfers.pay_back").outcome == "refused"


def test_a_refund_from_the_list_waits_for_the_checker(operator_client):
    maker = operator_client("amina", roles=["treasury"])
    transfer = make_transfer(state=TransferState.PAYOUT_FAILED)
    response = maker.post("/admin/transfers/transfer/", {
        "action": "refund_failed_payout", "_selected_action": [transfer.pk], "confirm": "yes",
        "reason": "recipient unreachable"}, follow=True)
    assert "a second operator must run the same action" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.PAYOUT_FAILED
    assert PayoutAttempt.objects.count() == 0
    assert PendingApproval.objects.get().action == "transfers.refund_failed_payout"


def test_a_held_refund_from_the_list_waits_for_the_checker_then_names_what_stops_it(
        operator_client):
    maker = operator_client("amina", roles=["treasury"])
    checker = operator_client("kofi", roles=["treasury"])
    transfer = make_transfer(state=TransferState.ON_HOLD, holds=["compliance"],
                             hold_reason="compliance hold")
    form = {"action": "refund_held", "_selected_action": [transfer.pk], "confirm": "yes",
            "reason": "venue closed the market"}
    response = maker.post("/admin/transfers/transfer/", form, follow=True)
    assert "a second operator must run the same action" in response.content.decode()
    response = checker.post("/admin/transfers/transfer/", form, follow=True)
    assert "its hold has its own way out" in response.content.decode()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD
    assert PendingApproval.objects.get().status == "failed"
