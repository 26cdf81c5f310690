"""Each role's permission set, written out here on its own, so that a change to the roles is a
change to this table too; and the refund queue's action, open to the roles that move money."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from gateway.console.roles import OPERATIONS_APPS, ROLES, roles_sync
from ramps.chain.models import OutboundTransaction, Token
from tests.ramps.chain.factories import make_chain

pytestmark = pytest.mark.django_db

# Beyond viewing the operational models (every role may), what each role may do.
EXPECTED = {
    "support": {
        "transfers.add_note", "webhooks.resend_delivery", "agents.hold_redemption",
        "agents.reissue_redemption", "agents.unlock_throttle", "console.view_dashboard",
    },
    "compliance": {
        "transfers.approve_hold", "transfers.reject_hold", "transfers.decrypt_parties",
        "transfers.add_note", "cases.work_case", "kyc.review_customer",
        "kyc.change_tier_limits", "compliance.add_screeningwhitelist",
        "compliance.change_screeningwhitelist",
        "monitoring.add_monitoringrule", "monitoring.change_monitoringrule",
        "console.view_dashboard", "console.view_auditevent",
    },
    "treasury": {
        "transfers.release_hold", "transfers.retry_payout", "transfers.reroute_payout",
        "transfers.refund_transfer", "transfers.add_note", "agents.top_up_float",
        "agents.settle_network", "treasury.resolve_incident", "treasury.adjust_rail_float",
        "treasury.record_venue_transfer", "treasury.add_floatpolicy",
        "treasury.change_floatpolicy", "treasury.add_exposurelimit",
        "treasury.change_exposurelimit", "chain.resolve_incident", "chain.scan_chain",
        "liquidity.refresh_order", "console.view_dashboard",
        "chain.change_outboundtransaction",
    },
}


def _labels(group: Group) -> set[str]:
    return {f"{app}.{codename}" for app, codename in group.permissions.values_list(
        "content_type__app_label", "codename")}


def _is_operational_view(label: str) -> bool:
    app, codename = label.split(".", 1)
    return app in OPERATIONS_APPS and codename.startswith("view_")


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_holds_exactly_its_permissions(role):
    roles_sync()
    held = _labels(Group.objects.get(name=role))
    assert {label for label in held if not _is_operational_view(label)} == EXPECTED[role]
    views = {f"{app}.{codename}" for app, codename in Permission.objects.filter(
        content_type__app_label__in=OPERATIONS_APPS, codename__startswith="view_")
        .values_list("content_type__app_label", "codename")}
    assert views <= held


def test_admin_holds_every_permission_and_the_roles_are_the_four():
    roles_sync()
    assert set(ROLES) == {*EXPECTED, "admin"}
    assert _labels(Group.objects.get(name="admin")) == {
        f"{app}.{codename}" for app, codename in Permission.objects.values_list(
            "content_type__app_label", "codename")}


def test_no_role_but_admin_may_edit_ledger_or_transfers_by_hand():
    roles_sync()
    for role in EXPECTED:
        held = _labels(Group.objects.get(name=role))
        assert not {"transfers.change_transfer", "ledger.change_ledgerentry",
                    "ledger.add_posting", "payouts.change_payoutattempt"} & held, role


def held_refund() -> OutboundTransaction:
    chain = make_chain()
    token = Token.objects.create(chain=chain, symbol="USDC", decimals=6,
                                 contract_address="0x" + "ab" * 20)
    return OutboundTransaction.objects.create(
        chain=chain, kind=OutboundTransaction.Kind.REFUND, reference="refund:t:1", token=token,
        status=OutboundTransaction.Status.NEEDS_DESTINATION, from_address="0x" + "cd" * 20,
        amount=5_000_000, review_reason="the payer is an exchange's wallet")


@pytest.mark.parametrize(("role", "status"), [
    ("treasury", 200), ("admin", 200), ("support", 403), ("compliance", 403)])
def test_the_refund_destination_queue_is_for_the_roles_that_move_money(operator_client, role,
                                                                        status):
    client = operator_client("operator", roles=[role])
    refund = held_refund()
    url = reverse("admin:chain_refund_destination", args=[refund.pk])
    assert client.get(url).status_code == status
    # A refused operator's post changes nothing; an allowed one with a bad address is told so
    # on the form, and nothing is signed.
    response = client.post(url, {"to_address": "not-an-address"})
    assert response.status_code == status
    refund.refresh_from_db()
    assert (refund.status, refund.to_address) == (OutboundTransaction.Status.NEEDS_DESTINATION,
                                                  "")
    # The rows stay read-only in the admin for every role: the permission opens the action only.
    change = client.get(reverse("admin:chain_outboundtransaction_change", args=[refund.pk]))
    assert b'name="to_address"' not in change.content
