"""Roles: each operator action checks its own permission. For every role, an allowed action
runs and is audited; a refused one is not offered, changes nothing and leaves no decision."""

import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from compliance.cases.models import Case
from compliance.cases.services import case_open
from compliance.models import ScreeningDecision
from gateway.console.models import AuditEvent
from gateway.console.roles import OPERATOR_PERMISSIONS, ROLES, roles_sync
from gateway.transfers.models import Transfer
from gateway.transfers.services.conversion import FLOAT_HOLD_REASON
from gateway.transfers.states import TransferState
from ramps.payouts.agents.models import Redemption
from tests.gateway.transfers.factories import make_transfer
from tests.ramps.payouts.agents.factories import (
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
)

pytestmark = pytest.mark.django_db


def held_transfer(outcome=ScreeningDecision.Outcome.HOLD, hold_reason="amount-review"):
    transfer = make_transfer(state=TransferState.ON_HOLD)
    decision = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=outcome,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=decision,
                                                   hold_reason=hold_reason)
    return transfer, decision


def run_action(client, url: str, action: str, pk: int):
    listing = client.get(url)
    offered = f'value="{action}"' in listing.content.decode()
    response = client.post(url, {"action": action, "_selected_action": [pk], "confirm": "yes",
                                 "reason": "checked with the partner"})
    return offered, response


@pytest.mark.parametrize(("role", "allowed"), [
    ("compliance", True), ("admin", True), ("support", False), ("treasury", False)])
def test_proposing_an_approval_needs_approve_hold(operator_client, role, allowed):
    client = operator_client("operator", roles=[role])
    transfer, held = held_transfer()
    offered, response = run_action(client, "/admin/transfers/transfer/", "approve_held",
                                   transfer.pk)
    assert offered is allowed
    assert response.status_code in ((302,) if allowed else (200, 302))  # no action to run
    case = Case.objects.filter(decision=held).first()
    if allowed:
        assert case.status == Case.Status.PENDING_CONFIRMATION
        assert AuditEvent.objects.get(action="transfers.approve_held").actor_username == \
            "operator"
    else:
        assert case is None
        assert not AuditEvent.objects.filter(action="transfers.approve_held").exists()
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ON_HOLD
    assert not ScreeningDecision.objects.filter(supersedes=held).exists()


@pytest.mark.parametrize(("role", "allowed"), [
    ("treasury", True), ("admin", True), ("support", False), ("compliance", False)])
def test_releasing_a_float_hold_needs_release_hold(operator_client, role, allowed,
                                                   django_capture_on_commit_callbacks):
    client = operator_client("operator", roles=[role])
    transfer, _ = held_transfer(ScreeningDecision.Outcome.APPROVE, FLOAT_HOLD_REASON)
    with django_capture_on_commit_callbacks(execute=False):
        offered, _ = run_action(client, "/admin/transfers/transfer/", "release_held",
                                transfer.pk)
    assert offered is allowed
    transfer.refresh_from_db()
    assert transfer.state == (TransferState.APPROVED if allowed else TransferState.ON_HOLD)
    assert AuditEvent.objects.filter(action="transfers.release_held").count() == int(allowed)


@pytest.mark.parametrize(("role", "allowed"), [
    ("support", True), ("admin", True), ("compliance", False), ("treasury", False)])
def test_holding_a_redemption_code_needs_hold_redemption(operator_client, role, allowed):
    client = operator_client("operator", roles=[role])
    _, redemption, _ = make_cash_transfer(make_pickup_corridor(make_network("duka")))
    offered, _ = run_action(client, "/admin/agents/redemption/", "hold", redemption.pk)
    assert offered is allowed
    redemption.refresh_from_db()
    assert redemption.status == (Redemption.Status.HELD if allowed else Redemption.Status.ISSUED)
    event = AuditEvent.objects.filter(action="agents.hold").first()
    assert (event is not None) is allowed
    if allowed:
        assert (event.before["status"], event.after["status"]) == ("issued", "held")


@pytest.mark.parametrize(("role", "status"), [
    ("compliance", 200), ("admin", 200), ("support", 403), ("treasury", 403)])
def test_working_a_case_needs_a_compliance_role(operator_client, role, status):
    client = operator_client("operator", roles=[role])
    _, held = held_transfer()
    case = case_open(subject_reference=held.subject_reference, reasons=held.reasons,
                     decision_id=held.pk)
    assert client.get(f"/admin/cases/case/{case.pk}/act/").status_code == status
    response = client.post(f"/admin/cases/case/{case.pk}/act/", {
        "action": "propose_reject", "label": "risk_confirmed", "note": "matches the list"})
    case.refresh_from_db()
    if status == 200:
        assert response.status_code == 302
        assert case.status == Case.Status.PENDING_CONFIRMATION
        event = AuditEvent.objects.get(action="cases.propose_reject")
        assert (event.before["status"], event.after["status"]) == ("open",
                                                                   "pending_confirmation")
    else:
        assert response.status_code == 403
        assert case.status == Case.Status.OPEN
        assert not AuditEvent.objects.filter(action__startswith="cases.").exists()


@pytest.mark.parametrize(("role", "view", "export"), [
    ("admin", 200, 200), ("compliance", 200, 403), ("support", 403, 403),
    ("treasury", 403, 403)])
def test_the_audit_log_is_for_admin_and_compliance(operator_client, role, view, export):
    client = operator_client("operator", roles=[role])
    assert client.get("/admin/console/auditevent/").status_code == view
    assert client.get("/admin/console/auditevent/export.csv").status_code == export


def test_audit_log_search_and_csv_export(operator_client):
    client = operator_client("auditor", roles=["admin"])
    AuditEvent.objects.create(actor_username="amina", action="transfers.approve_held",
                              reason="=HYPERLINK(\"x\")", subject_reference="t-42",
                              ip_address="203.0.113.9")
    AuditEvent.objects.create(actor_username="kofi", action="agents.hold", reason="fraud call")
    page = client.get("/admin/console/auditevent/?q=t-42")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    response = client.get("/admin/console/auditevent/export.csv?q=amina")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["actor_username"], row["action"], row["ip_address"]) for row in rows] == [
        ("amina", "transfers.approve_held", "203.0.113.9")]
    assert rows[0]["reason"] == "'=HYPERLINK(\"x\")"  # never a live formula in a spreadsheet
    assert AuditEvent.objects.filter(action="console.export_auditevent",
                                     actor_username="auditor").count() == 1
    # nobody edits or deletes the log from the admin
    event = AuditEvent.objects.get(actor_username="kofi")
    assert client.post(f"/admin/console/auditevent/{event.pk}/delete/",
                       {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_roles_are_data_and_the_sync_is_idempotent(capsys):
    first = roles_sync()
    second = roles_sync()
    assert first == second
    assert sorted(Group.objects.values_list("name", flat=True)) == sorted(ROLES)
    compliance = Group.objects.get(name="compliance")
    codenames = set(compliance.permissions.values_list("codename", flat=True))
    assert {"approve_hold", "reject_hold", "decrypt_parties", "work_case"} <= codenames
    assert not {"release_hold", "top_up_float", "change_transfer"} & codenames
    admin = Group.objects.get(name="admin")
    assert admin.permissions.filter(codename__in=[p[2] for p in OPERATOR_PERMISSIONS]).count() \
        == len(OPERATOR_PERMISSIONS)
    call_command("operator_roles")
    assert "compliance:" in capsys.readouterr().out
    assert Group.objects.count() == len(ROLES)
