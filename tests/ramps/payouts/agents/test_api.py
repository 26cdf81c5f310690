import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from gateway.ledger.models import JournalEntry
from gateway.transfers.models import Transfer
from gateway.transfers.states import TransferState
from ramps.payouts.agents.models import AgentNetworkAPIKey, LookupAudit, Redemption
from ramps.payouts.agents.selectors import agent_float_balance
from ramps.payouts.agents.services import redemption_code_current
from tests.gateway.partners.factories import make_partner
from tests.ramps.payouts.agents.factories import (
    make_agent,
    make_cash_transfer,
    make_network,
    make_pickup_corridor,
)

PROBLEM = "application/problem+json"


def network_client(network):
    _, key = AgentNetworkAPIKey.objects.create_key(network=network, name="pos")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def assert_problem(response, status, slug):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["detail"]
    return body


@pytest.fixture
def world(db):
    partner, key = make_partner()
    network = make_network("duka")
    agent = make_agent(network, "moi-avenue")
    transfer, redemption, code = make_cash_transfer(make_pickup_corridor(network),
                                                    partner=partner)
    sender = APIClient()
    sender.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return {"network": network, "agent": agent, "transfer": transfer, "code": code,
            "redemption": redemption, "pos": network_client(network), "sender": sender}


CONFIRM = {"id_document_type": "passport", "id_document_number": "AK1234567",
           "operator": "till-3"}


def test_lookup_then_confirm_then_retry(world):
    pos, code = world["pos"], world["code"]
    lookup = post(pos, "/api/v1/agent-network/redemptions/lookup",
                  {"agent": "moi-avenue", "code": code})
    assert lookup.status_code == 200
    assert lookup.json() == {"amount": "12700.00", "currency": "KES",
                             "recipient_name": "Joseph Mwangi",
                             "expires_at": world["redemption"].expires_at.isoformat()}
    body = {"agent": "moi-avenue", "code": code, **CONFIRM}
    paid = post(pos, "/api/v1/agent-network/redemptions/confirm", body)
    assert paid.status_code == 201
    receipt = paid.json()
    assert receipt["already_paid"] is False
    assert (receipt["amount"], receipt["id_document_number_last4"], receipt["paid_by"],
            receipt["commission"]) == ("12700.00", "4567", "till-3", "177.00")
    retry = post(pos, "/api/v1/agent-network/redemptions/confirm", body)
    assert retry.status_code == 200
    assert retry.json() == {**receipt, "already_paid": True}
    assert JournalEntry.objects.filter(reference__endswith=":payout").count() == 1
    assert Transfer.objects.get(pk=world["transfer"].pk).state == TransferState.COMPLETED
    floats = pos.get("/api/v1/agent-network/agents/moi-avenue/float").json()
    assert (floats["float"], floats["paid_today"]) == ("37300.00", "12700.00")
    assert [p["receipt_id"] for p in floats["payouts_today"]] == [receipt["receipt_id"]]
    audit = LookupAudit.objects.order_by("id")
    assert list(audit.values_list("channel", "action", "outcome")) == [
        ("api", "lookup", "found"), ("api", "confirm", "found"), ("api", "confirm", "found")]


def test_another_network_cannot_see_or_redeem_the_transfer(world):
    rival = make_network("rival")
    make_agent(rival, "kiosk")
    rival_pos = network_client(rival)
    code = world["code"]
    for path, extra in [("lookup", {}), ("confirm", CONFIRM)]:
        response = post(rival_pos, f"/api/v1/agent-network/redemptions/{path}",
                        {"agent": "kiosk", "code": code, **extra})
        assert_problem(response, 404, "unknown-redemption-code")
    # naming the other network's agent does not help either
    response = post(rival_pos, "/api/v1/agent-network/redemptions/confirm",
                    {"agent": "moi-avenue", "code": code, **CONFIRM})
    assert_problem(response, 404, "unknown-agent")
    assert_problem(rival_pos.get("/api/v1/agent-network/agents/moi-avenue/float"), 404,
                   "unknown-agent")
    assert Redemption.objects.get().status == Redemption.Status.ISSUED
    assert agent_float_balance(agent=world["agent"]) == Decimal("50000.00")
    assert not JournalEntry.objects.filter(reference__endswith=":payout").exists()


def test_bad_input_and_missing_key_are_problem_details(world):
    pos = world["pos"]
    body = assert_problem(post(pos, "/api/v1/agent-network/redemptions/confirm",
                               {"agent": "moi-avenue", "code": world["code"],
                                "id_document_type": "library_card"}), 400, "validation-error")
    assert set(body["errors"]) == {"id_document_type", "id_document_number"}
    assert_problem(pos.post("/api/v1/agent-network/redemptions/lookup", data="{",
                            content_type="application/json"), 400, "malformed-request")
    assert_problem(post(APIClient(), "/api/v1/agent-network/redemptions/lookup",
                        {"agent": "moi-avenue", "code": "x"}), 401, "unauthenticated")
    # a partner's key is not a network's key
    assert_problem(post(world["sender"], "/api/v1/agent-network/redemptions/lookup",
                        {"agent": "moi-avenue", "code": "x"}), 401, "unauthenticated")
    body = assert_problem(post(pos, "/api/v1/agent-network/redemptions/lookup",
                               {"agent": "moi-avenue", "code": "ZZZZ-ZZZZ-ZZZZ"}), 404,
                          "unknown-redemption-code")
    assert body["attempts_left"] == 19
    assert not LookupAudit.objects.filter(outcome="found").exists()


def test_lockout_answers_429(world, settings):
    settings.AGENTS_LOOKUP_FAILURES_PER_API_KEY = 2
    pos = world["pos"]
    for _ in range(2):
        post(pos, "/api/v1/agent-network/redemptions/lookup",
             {"agent": "moi-avenue", "code": "ZZZZ-ZZZZ-ZZZZ"})
    body = assert_problem(post(pos, "/api/v1/agent-network/redemptions/lookup",
                               {"agent": "moi-avenue", "code": world["code"]}), 429,
                          "lookups-locked-out")
    assert body["locked_until"]


def test_sender_sees_and_reissues_its_code_and_no_one_elses(world):
    sender, transfer = world["sender"], world["transfer"]
    path = f"/api/v1/transfers/{transfer.public_id}/cash-pickup"
    shown = sender.get(path)
    assert shown.status_code == 200
    assert shown.json()["code"] == world["code"]
    assert (shown.json()["status"], shown.json()["issue_number"]) == ("issued", 1)
    reissued = sender.post(path + "/reissue")
    assert reissued.status_code == 200
    new_code = reissued.json()["code"]
    assert new_code != world["code"]
    assert new_code == redemption_code_current(redemption=Redemption.objects.get())
    assert_problem(post(world["pos"], "/api/v1/agent-network/redemptions/lookup",
                        {"agent": "moi-avenue", "code": world["code"]}), 404,
                   "unknown-redemption-code")
    _, other_key = make_partner()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert_problem(other.get(path), 404, "not-found")
    assert_problem(other.post(path + "/reissue"), 404, "not-found")
    assert_problem(sender.get("/api/v1/transfers/not-a-uuid/cash-pickup"), 404, "not-found")
    post(world["pos"], "/api/v1/agent-network/redemptions/confirm",
         {"agent": "moi-avenue", "code": new_code, **CONFIRM})
    assert sender.get(path).json()["code"] is None
    assert_problem(sender.post(path + "/reissue"), 409, "redemption-not-payable")


def test_openapi_schema_documents_the_cash_pickup_api(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert {"/api/v1/agent-network/redemptions/lookup",
            "/api/v1/agent-network/redemptions/confirm",
            "/api/v1/transfers/{transfer_id}/cash-pickup/reissue"} <= set(schema["paths"])
    assert "AgentNetworkApiKey" in schema["components"]["securitySchemes"]
