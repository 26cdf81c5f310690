"""The one representation of a transfer: fees, holds, corrections, refunds, formats."""

import json
import re

import pytest
from rest_framework.test import APIClient

from gateway.transfers.models import Quote, Transfer
from gateway.transfers.serializers import (
    QuoteRequestSerializer,
    api_timestamp,
    transfer_representation,
)
from gateway.transfers.states import TransferState
from ramps.chain.models import OutboundTransaction
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_quote, make_transfer

S = TransferState
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
FEE_DETAILS = {"fixed": "0.500000", "variable": "0.500000", "margin_rate": "0.004000",
               "asset": "USDC", "venue": "luno-sandbox", "venue_fee": "0.2475",
               "venue_fee_currency": "KES"}
KEYS = {"id", "status", "state", "external_id", "quote_id", "corridor", "amount_in",
        "amount_in_asset", "amount_in_asset_alias", "amount_fee", "amount_out",
        "amount_out_currency", "rate", "fee", "payout_method", "deposit", "refund_address",
        "hold_reason", "required_info_updates", "required_info_message",
        "required_info_deadline", "refunds",
        "cash_pickup", "timeline", "created_at", "updated_at"}


@pytest.fixture
def setup(db):
    partner, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return partner, make_corridor(), client


def transfer_with_fees(partner, corridor, **overrides):
    transfer = make_transfer(partner=partner, corridor=corridor, **overrides)
    Quote.objects.filter(pk=transfer.quote_id).update(fee_details=FEE_DETAILS)
    return transfer


def get(client, transfer) -> dict:
    response = client.get(f"/api/v1/transfers/{transfer.public_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_transfer_shows_amounts_fee_breakdown_and_assets_but_no_venue(setup):
    partner, corridor, client = setup
    transfer = transfer_with_fees(partner, corridor, external_id="INV-1")
    body = get(client, transfer)
    assert set(body) == KEYS
    token = corridor.token
    assert body["amount_in"] == "100.000000"
    assert body["amount_in_asset"] == token.caip19 == f"eip155:31337/erc20:{token.contract_address}"
    assert body["amount_in_asset_alias"] == "USDC:anvil"
    assert body["amount_fee"] == "1.000000"
    assert (body["amount_out"], body["amount_out_currency"]) == ("12700.00", "KES")
    assert body["rate"] == "128.282828282828"
    assert body["fee"] == {"total": "1.000000", "fixed": "0.500000", "variable": "0.500000",
                           "margin_rate": "0.004000", "asset": token.caip19,
                           "asset_alias": "USDC:anvil"}
    assert body["deposit"]["asset_alias"] == "USDC:anvil"
    assert body["corridor"] == corridor.code
    assert body["payout_method"] == "mobile_money"
    assert (body["hold_reason"], body["required_info_updates"], body["required_info_message"],
            body["refunds"], body["cash_pickup"]) == (None, None, None, None, None)
    text = json.dumps(body)
    assert "venue" not in text
    assert "luno" not in text
    assert "0.2475" not in text


def test_every_timestamp_has_one_format(setup):
    partner, corridor, client = setup
    body = get(client, transfer_with_fees(partner, corridor))
    stamps = [body["created_at"], body["updated_at"], body["deposit"]["expires_at"]] + [
        event["at"] for event in body["timeline"]]
    assert all(TIMESTAMP.match(stamp) for stamp in stamps), stamps


@pytest.mark.parametrize("internal_reason", [
    "sanctions: 93% match on OFAC SDN entry 36216 (recipient)",
    "monitoring rule velocity-24h hit", "underpaid", "float short on mpesa-ke"])
def test_a_hold_never_tells_the_sender_why(setup, internal_reason):
    partner, corridor, client = setup
    transfer = transfer_with_fees(partner, corridor, state=S.ON_HOLD, hold_reason=internal_reason)
    transfer.events.update(reason=internal_reason)
    body = get(client, transfer)
    assert body["status"] == "on_hold"
    assert body["hold_reason"] == "under_review"
    text = json.dumps(body)
    for word in internal_reason.split():
        if len(word) > 3:
            assert word.rstrip(":") not in text
    assert set(body["timeline"][0]) == {"state", "status", "at"}


def test_a_failed_payout_lists_what_the_sender_must_correct(setup):
    partner, corridor, client = setup
    transfer = transfer_with_fees(partner, corridor, state=S.PAYOUT_FAILED)
    body = get(client, transfer)
    assert body["status"] == "pending_transaction_info_update"
    assert body["required_info_updates"] == ["recipient.phone_number", "recipient.name"]
    assert f"PATCH /api/v1/transfers/{transfer.public_id}" in body["required_info_message"]
    assert "cash_pickup" not in body["required_info_message"]


def test_a_failed_payout_offers_cash_pickup_where_the_corridor_has_it(setup):
    from ramps.payouts.agents.models import AgentNetwork, CashPickupCorridor

    partner, corridor, client = setup
    network = AgentNetwork.objects.create(code="net", name="Agents")
    CashPickupCorridor.objects.create(corridor=corridor, network=network)
    transfer = transfer_with_fees(partner, corridor, state=S.PAYOUT_FAILED)
    body = get(client, transfer)
    assert body["required_info_updates"] == ["recipient.phone_number", "recipient.name",
                                             "payout_method"]
    assert "cash_pickup" in body["required_info_message"]
    assert body["payout_method"] == "mobile_money"
    assert body["required_info_deadline"] == api_timestamp(
        transfer.state_changed_at + corridor.correction_window)


def make_refund(transfer, *, suffix: str, status: str, tx_hash: str, amount: int):
    return OutboundTransaction.objects.create(
        chain=transfer.corridor.token.chain, kind=OutboundTransaction.Kind.REFUND,
        reference=f"refund:{transfer.public_id}:{suffix}", status=status,
        token=transfer.corridor.token, from_address="0x" + "aa" * 20,
        to_address="0x" + "bb" * 20, amount=amount, tx_hash=tx_hash)


def test_refunds_show_each_payment_with_its_hash_and_status(setup):
    partner, corridor, client = setup
    transfer = transfer_with_fees(partner, corridor, state=S.REFUND_PENDING)
    other = transfer_with_fees(partner, corridor, state=S.REFUND_PENDING)
    make_refund(transfer, suffix="1", status="confirmed", tx_hash="0x" + "01" * 32,
                amount=60_000_000)
    make_refund(transfer, suffix="2", status="broadcast", tx_hash="0x" + "02" * 32,
                amount=40_000_000)
    make_refund(transfer, suffix="3", status="created", tx_hash="", amount=1_500_000)
    make_refund(other, suffix="1", status="failed", tx_hash="0x" + "03" * 32, amount=5)
    body = get(client, transfer)
    refunds = body["refunds"]
    assert refunds["amount_refunded"] == "60.000000"
    assert refunds["amount_fee"] == "0.000000"
    assert refunds["asset"] == corridor.token.caip19
    assert [(p["id"], p["amount"], p["status"]) for p in refunds["payments"]] == [
        ("0x" + "01" * 32, "60.000000", "completed"),
        ("0x" + "02" * 32, "40.000000", "pending"),
        (None, "1.500000", "pending")]
    assert all(p["id_type"] == "tx_hash" and TIMESTAMP.match(p["created_at"])
               for p in refunds["payments"])
    assert get(client, other)["refunds"]["payments"][0]["status"] == "failed"
    # The list shows the very same objects (refunds loaded for the whole page at once).
    listed = {t["id"]: t for t in client.get("/api/v1/transfers").json()["results"]}
    assert listed[body["id"]]["refunds"] == refunds
    assert listed[str(other.public_id)]["refunds"]["amount_refunded"] == "0.000000"


def test_transfer_representation_is_what_the_api_answers(setup):
    partner, corridor, client = setup
    transfer = transfer_with_fees(partner, corridor, state=S.PAYOUT_FAILED)
    make_refund(transfer, suffix="1", status="confirmed", tx_hash="0x" + "01" * 32, amount=1)
    transfer = Transfer.objects.get(pk=transfer.pk)  # as another module would load it
    assert transfer_representation(transfer) == get(client, transfer)
    json.dumps(transfer_representation(transfer))  # plain JSON data, ready for a webhook


def test_refund_address_is_taken_at_creation_and_shown(setup):
    partner, corridor, client = setup
    address = "0x2546BcD3c84621e976D8185a91A922aE77ECEc30"
    body = {"quote_id": str(make_quote(partner=partner, corridor=corridor).public_id),
            "sender": {"name": "Amina Odhiambo"}, "refund_address": address,
            "recipient": {"name": "Joseph Mwangi", "phone_number": "+254708374149"}}
    response = client.post("/api/v1/transfers", data=json.dumps(body),
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="ra")
    assert response.status_code == 201, response.content
    assert response.json()["refund_address"] == address
    bad = {**body, "quote_id": str(make_quote(partner=partner, corridor=corridor).public_id),
           "refund_address": address.lower().replace("0x2", "0x3")}
    response = client.post("/api/v1/transfers", data=json.dumps(bad),
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="rb")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("data", "valid", "errors"), [
    ({"amount_in_asset": "USDC", "amount_in": "5", "amount_out_currency": "KES"}, True, set()),
    ({"sell_asset": "USDC", "sell_amount": "5", "buy_currency": "KES"}, True, set()),
    ({"sell_asset": "USDC", "amount_in": "5", "buy_currency": "KES"}, True, set()),
    ({"amount_in": "5", "sell_amount": "6", "amount_in_asset": "USDC",
      "amount_out_currency": "KES"}, False, {"amount_in"}),
    ({"amount_in": "5"}, False, {"amount_in_asset", "amount_out_currency"}),
])
def test_quote_requests_take_one_vocabulary_and_the_old_names(data, valid, errors):
    serializer = QuoteRequestSerializer(data=data)
    assert serializer.is_valid() == valid
    assert set(serializer.errors) == errors
    if valid:
        assert serializer.validated_data == {"amount_in_asset": "USDC", "amount_in": "5",
                                             "amount_out_currency": "KES"}
