"""Treasury's admin actions on cash pickup: an agent's float top-up and a commission settlement
with a network. Each checks its own permission, asks a reason, needs a second operator
(maker-checker), books through the service and is audited; a refused one changes nothing."""

from decimal import Decimal

import pytest

from gateway.console.models import AuditEvent, PendingApproval
from ramps.payouts.agents.selectors import agent_float_balance
from ramps.payouts.agents.services import agent_commission_owed
from tests.ramps.payouts.agents.factories import (
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
    make_staff,
)

pytestmark = pytest.mark.django_db

AGENTS = "/admin/agents/agent/"
NETWORKS = "/admin/agents/agentnetwork/"


def run(client, url: str, action: str, pk: int, **fields):
    listing = client.get(url)
    offered = f'value="{action}"' in listing.content.decode()
    response = client.post(url, {"action": action, "_selected_action": [pk], "confirm": "yes",
                                 "reason": "cash delivered by the bank", **fields})
    return offered, response


def test_a_float_top_up_is_proposed_then_confirmed_by_a_second_treasurer(operator_client):
    agent = make_agent(make_network("duka"), "moi-avenue", float_amount="1000.00")
    maker, checker = (operator_client("kofi", roles=["treasury"]),
                      operator_client("ama", roles=["treasury"]))
    offered, response = run(maker, AGENTS, "top_up_float", agent.pk, amount="25000.00",
                            reference="BANK-7781")
    assert offered
    assert response.status_code == 302
    assert agent_float_balance(agent=agent) == Decimal("1000.00")  # proposed only
    assert PendingApproval.objects.get().params == {"amount": "25000.00",
                                                    "reference": "BANK-7781"}
    run(checker, AGENTS, "top_up_float", agent.pk, amount="25000.00", reference="BANK-7781")
    assert agent_float_balance(agent=agent) == Decimal("26000.00")
    events = list(AuditEvent.objects.filter(action="agents.top_up_float")
                  .order_by("id").values_list("actor_username", "outcome", "reason",
                                              "subject_reference"))
    assert events == [("kofi", "done", "cash delivered by the bank", "agent:duka/moi-avenue"),
                      ("ama", "done", "cash delivered by the bank", "agent:duka/moi-avenue")]
    confirmed = AuditEvent.objects.filter(action="agents.top_up_float").order_by("id").last()
    assert confirmed.detail.startswith("float 1000.00 -> 26000.00 KES (agent-float:duka:")
    assert "proposed by kofi, confirmed" in confirmed.detail


@pytest.mark.parametrize("role", ["support", "compliance"])
def test_a_role_without_the_permission_is_not_offered_a_top_up(operator_client, role):
    agent = make_agent(make_network("duka"), "moi-avenue", float_amount="1000.00")
    offered, _ = run(operator_client("eve", roles=[role]), AGENTS, "top_up_float", agent.pk,
                     amount="25000.00", reference="BANK-1")
    assert not offered
    assert agent_float_balance(agent=agent) == Decimal("1000.00")
    assert not PendingApproval.objects.exists()
    assert not AuditEvent.objects.filter(action="agents.top_up_float",
                                         outcome="done").exists()


@pytest.mark.parametrize(("amount", "reference", "message"), [
    ("-5", "BANK-2", "is not a decimal amount"),
    ("0", "BANK-2", "must be positive"),
    ("12.345", "BANK-2", "more decimal places than KES allows"),
    ("100.00", "", "reference of the transfer of cash"),
    ("100.00", "BANK 2", "one word"),
])
def test_bad_input_is_refused_audited_and_books_nothing(operator_client, amount, reference,
                                                        message):
    agent = make_agent(make_network("duka"), "moi-avenue", float_amount="1000.00")
    run(operator_client("kofi", roles=["treasury"]), AGENTS, "top_up_float", agent.pk,
        amount=amount, reference=reference)
    run(operator_client("ama", roles=["treasury"]), AGENTS, "top_up_float", agent.pk,
        amount=amount, reference=reference)
    assert agent_float_balance(agent=agent) == Decimal("1000.00")
    failed = AuditEvent.objects.get(action="agents.top_up_float", outcome="failed")
    assert failed.actor_username == "ama"
    assert message.lower() in failed.detail.lower()


def test_a_settlement_pays_the_commission_owed_and_no_more(operator_client):
    from ramps.payouts.agents.services import Counter, redemption_confirm

    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    staff = make_staff(agent, "wanjiru")
    _, _, code = make_cash_transfer(make_pickup_corridor(network))
    redemption_confirm(counter=Counter(agent=agent, staff=staff, channel="portal"), code=code,
                       id_document_type="national_id", id_document_number="12345678")
    assert agent_commission_owed(network=network, currency="KES") == Decimal("177.00")
    maker, checker = (operator_client("kofi", roles=["treasury"]),
                      operator_client("ama", roles=["treasury"]))
    too_much = {"amount": "500.00", "reference": "SETTLE-11", "currency": "KES"}
    run(maker, NETWORKS, "settle_network", network.pk, **too_much)
    run(checker, NETWORKS, "settle_network", network.pk, **too_much)
    assert agent_commission_owed(network=network, currency="KES") == Decimal("177.00")
    assert AuditEvent.objects.get(action="agents.settle_network",
                                  outcome="failed").detail.startswith("Duka Agents is owed less")
    PendingApproval.objects.all().delete()  # the refused proposal is withdrawn
    owed = {"amount": "177.00", "reference": "SETTLE-12", "currency": "kes"}
    run(maker, NETWORKS, "settle_network", network.pk, **owed)
    run(checker, NETWORKS, "settle_network", network.pk, **owed)
    assert agent_commission_owed(network=network, currency="KES") == Decimal("0")
    done = AuditEvent.objects.filter(action="agents.settle_network", outcome="done")
    assert list(done.order_by("id").values_list("actor_username", flat=True)) == [
        "kofi", "kofi", "ama"]  # two proposals (the refused one too) and one confirmation
    assert "still owed 0.00 KES" in done.order_by("id").last().detail


def test_only_treasury_and_admin_may_settle(operator_client):
    network = make_network("duka")
    offered, _ = run(operator_client("sam", roles=["support"]), NETWORKS, "settle_network",
                     network.pk, amount="1.00", reference="X", currency="KES")
    assert not offered
    assert not PendingApproval.objects.exists()
    offered, _ = run(operator_client("root", roles=["admin"]), NETWORKS, "settle_network",
                     network.pk, amount="1.00", reference="X", currency="KES")
    assert offered
