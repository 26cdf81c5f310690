"""The transfer page: its case and decision, payout attempts, audit trail; the parties only for
roles allowed to see them."""

import pytest

from compliance.models import ScreeningDecision
from gateway.console.models import AuditEvent
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from tests.gateway.transfers.factories import make_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def held():
    transfer = make_transfer(state=TransferState.ON_HOLD)
    decision = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "sanctions-name", "entry_id": "OFAC-36", "name": "Ivan Petrov",
                  "score": 0.91}], rules_version="2026.11-3", list_versions={})
    Transfer.objects.filter(pk=transfer.pk).update(compliance_decision=decision)
    AuditEvent.objects.create(actor_username="amina", action="transfers.approve_held",
                              reason="name differs by birth date",
                              subject_reference=transfer.reference)
    return transfer


@pytest.mark.parametrize(("role", "sees_parties"), [
    ("compliance", True), ("admin", True), ("support", False), ("treasury", False)])
def test_parties_are_decrypted_only_for_allowed_roles(operator_client, held, role,
                                                      sees_parties):
    client = operator_client("operator", roles=[role])
    page = client.get(f"/admin/transfers/transfer/{held.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    recipient_name = held.recipient["name"]
    assert (recipient_name in html) is sees_parties
    assert ("Parties (decrypted for this page only)" in html) is sees_parties
    # everyone who may see the transfer sees its case, decision and audit trail
    assert "sanctions-name OFAC-36 (Ivan Petrov) score 0.91" in html
    assert "name differs by birth date" in html
    assert "2026.11-3" in html
