import json
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from gateway.transfers.models import IdempotencyRecord, Quote, Transfer
from ramps.chain.models import DepositAddress
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_quote

PROBLEM = "application/problem+json"


@pytest.fixture
def corridor(exchange_venue):
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    return corridor


def fund_rail_float(rail_code: str, amount: Decimal) -> None:
    from gateway.ledger.services import credit, debit, ledger_entry_post

    ledger_entry_post(reference=f"test:float:{rail_code}:{amount}", description="float",
                      legs=[debit(f"assets:float:{rail_code}", "KES", amount, kind="asset",
                                  floor=True),
                            credit("equity:opening-balances", "KES", amount, kind="equity")])


def quote_body(**overrides):
    return {"sell_asset": "USDC:anvil", "sell_amount": "100.00", "buy_currency": "KES",
            **overrides}


def transfer_body(quote_id, **overrides):
    return {"quote_id": str(quote_id), "sender": {"name": "Amina Odhiambo"},
            "recipient": {"name": "Joseph Mwangi", "phone_number": "+254708374149"},
            **overrides}


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def assert_problem(response, status, slug):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


# --- quotes ---------------------------------------------------------------------------------


def test_quote_prices_the_size_on_the_venue_and_states_fees_and_expiry(partner_client, corridor,
                                                                       exchange_sandbox):
    response = post(partner_client, "/api/v1/quotes", quote_body())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount_in_asset"] == corridor.token.caip19
    assert body["amount_in_asset_alias"] == "USDC:anvil"
    assert body["amount_in"] == "100.000000"
    assert body["amount_out_currency"] == "KES"
    # fee: 0.50 fixed + 0.5% of 100 = 1.000000; 99 USDC are sold at the book's VWAP less margin.
    assert body["fee"]["total"] == "1.000000"
    quote = Quote.objects.get(public_id=body["id"])
    assert quote.amount_out == (Decimal(99) * quote.rate).quantize(Decimal("0.01"),
                                                                   rounding="ROUND_DOWN")
    # The venue's taker fee comes off the proceeds, then the corridor's 0.4% margin.
    venue_fee = Decimal(quote.fee_details["venue_fee"])
    net_rate = (quote.venue_rate * Decimal(99) - venue_fee) / Decimal(99)
    assert quote.rate == (net_rate * Decimal("0.996")).quantize(Decimal("1e-12"),
                                                                rounding="ROUND_DOWN")
    assert quote.fee_details["venue"] == "luno-sandbox"
    assert venue_fee > 0
    assert Decimal(body["amount_out"]) == quote.amount_out
    assert isinstance(body["amount_out"], str)
    assert body["amount_fee"] == "1.000000"
    # The fee breakdown never names the venue or its fee.
    assert body["fee"] == {"total": "1.000000", "fixed": "0.500000", "variable": "0.500000",
                           "margin_rate": "0.004000", "asset": corridor.token.caip19,
                           "asset_alias": "USDC:anvil"}
    assert "venue" not in json.dumps(body)
    assert isinstance(body["rate"], str)
    assert timezone.now() < quote.expires_at <= timezone.now() + timedelta(minutes=5)


def test_quote_alias_caip19_and_bare_symbol_resolve_to_the_same_corridor(partner_client,
                                                                         corridor):
    for asset in ("USDC:anvil", corridor.token.caip19, "usdc", "USDC:eip155:31337"):
        response = post(partner_client, "/api/v1/quotes", quote_body(sell_asset=asset))
        assert response.status_code == 201, (asset, response.content)


def test_request_without_api_key_is_401_problem(corridor):
    response = post(APIClient(), "/api/v1/quotes", quote_body())
    assert_problem(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_request_with_wrong_api_key_is_401_problem(db, corridor):
    _, key = make_partner()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key[:-2]}xx")
    assert_problem(post(client, "/api/v1/quotes", quote_body()), 401, "unauthenticated")


def test_x_api_key_header_is_accepted(db, corridor):
    _, key = make_partner()
    client = APIClient()
    assert post(client, "/api/v1/quotes", quote_body(), HTTP_X_API_KEY=key).status_code == 201


def test_malformed_json_is_400_problem(partner_client, corridor):
    response = partner_client.post("/api/v1/quotes", data="{not json",
                                   content_type="application/json")
    assert_problem(response, 400, "malformed-request")


def test_missing_fields_are_listed_in_a_400_problem(partner_client, corridor):
    body = assert_problem(post(partner_client, "/api/v1/quotes", {"sell_asset": "USDC"}), 400,
                          "validation-error")
    assert set(body["errors"]) == {"amount_in", "amount_out_currency"}


def test_amount_as_json_number_is_refused(partner_client, corridor):
    body = assert_problem(post(partner_client, "/api/v1/quotes", quote_body(sell_amount=100.5)),
                          400, "validation-error")
    assert "sell_amount" in body["errors"]
    body = assert_problem(post(partner_client, "/api/v1/quotes", {
        "amount_in_asset": "USDC:anvil", "amount_in": 100.5, "amount_out_currency": "KES"}),
        400, "validation-error")
    assert "amount_in" in body["errors"]


@pytest.mark.parametrize("amount", ["abc", "NaN", "-5", "0", "1e400", "100.1234567", "20000"])
def test_bad_amounts_are_422_problem(partner_client, corridor, amount):
    assert_problem(post(partner_client, "/api/v1/quotes", quote_body(sell_amount=amount)), 422,
                   "invalid-amount")
    assert Quote.objects.count() == 0


def test_unknown_corridor_is_422_problem(partner_client, corridor):
    assert_problem(post(partner_client, "/api/v1/quotes", quote_body(buy_currency="UGX")), 422,
                   "unknown-corridor")
    assert_problem(post(partner_client, "/api/v1/quotes", quote_body(sell_asset="DAI:anvil")),
                   422, "unknown-corridor")


def test_stale_venue_book_gives_503_and_no_quote(partner_client, corridor, exchange_sandbox):
    import requests

    control = requests.post(f"{exchange_sandbox.base_url}/_sandbox/control",
                            json={"action": "freeze_book", "pair": "USDCKES",
                                  "age_seconds": 3600}, timeout=5)
    assert control.status_code == 200
    assert_problem(post(partner_client, "/api/v1/quotes", quote_body()), 503,
                   "quote-unavailable")
    assert Quote.objects.count() == 0


# --- transfers ------------------------------------------------------------------------------


def create_quote(client):
    response = post(client, "/api/v1/quotes", quote_body())
    assert response.status_code == 201
    return response.json()["id"]


def test_transfer_gives_deposit_instructions_and_can_be_followed(partner_client, corridor):
    quote_id = create_quote(partner_client)
    response = post(partner_client, "/api/v1/transfers", transfer_body(quote_id),
                    HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_sender"
    assert body["state"] == "awaiting_deposit"
    deposit = body["deposit"]
    assert deposit["chain"] == "eip155:31337"
    assert deposit["asset"] == corridor.token.caip19
    assert deposit["amount"] == "100.000000"
    assert deposit["amount_base_units"] == "100000000"
    assert DepositAddress.objects.filter(address=deposit["address"]).exists()
    followed = partner_client.get(f"/api/v1/transfers/{body['id']}")
    assert followed.status_code == 200
    assert followed.json()["deposit"] == deposit
    assert [e["state"] for e in followed.json()["timeline"]] == ["awaiting_deposit"]


def test_transfer_of_another_partner_is_404(partner_client, corridor):
    quote_id = create_quote(partner_client)
    transfer_id = post(partner_client, "/api/v1/transfers", transfer_body(quote_id),
                       HTTP_IDEMPOTENCY_KEY="k1").json()["id"]
    _, other_key = make_partner()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert_problem(other.get(f"/api/v1/transfers/{transfer_id}"), 404, "not-found")
    assert_problem(partner_client.get("/api/v1/transfers/not-a-uuid"), 404, "not-found")
    assert_problem(partner_client.get(f"/api/v1/transfers/{uuid.uuid4()}"), 404, "not-found")


def test_expired_quote_is_refused_and_nothing_is_created(partner_client, corridor):
    quote = make_quote(partner=partner_client.partner, corridor=corridor,
                       expires_at=timezone.now() - timedelta(seconds=1))
    response = post(partner_client, "/api/v1/transfers", transfer_body(quote.public_id),
                    HTTP_IDEMPOTENCY_KEY="k-exp")
    assert_problem(response, 422, "quote-expired")
    assert Transfer.objects.count() == 0
    assert DepositAddress.objects.count() == 0


def test_quote_can_fund_only_one_transfer(partner_client, corridor):
    quote_id = create_quote(partner_client)
    first = post(partner_client, "/api/v1/transfers", transfer_body(quote_id),
                 HTTP_IDEMPOTENCY_KEY="a")
    assert first.status_code == 201
    second = post(partner_client, "/api/v1/transfers", transfer_body(quote_id),
                  HTTP_IDEMPOTENCY_KEY="b")
    assert_problem(second, 409, "quote-already-used")
    assert Transfer.objects.count() == 1


def test_quote_of_another_partner_is_unknown(partner_client, corridor):
    other, _ = make_partner()
    quote = make_quote(partner=other, corridor=corridor)
    assert_problem(post(partner_client, "/api/v1/transfers", transfer_body(quote.public_id),
                        HTTP_IDEMPOTENCY_KEY="x"), 422, "unknown-quote")


@pytest.mark.parametrize("phone", ["+256772123456", "0712", "not a number", ""])
def test_recipient_phone_must_be_valid_for_the_rail_country(partner_client, corridor, phone):
    quote_id = create_quote(partner_client)
    body = transfer_body(quote_id, recipient={"name": "Joseph", "phone_number": phone})
    response = post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="p")
    assert response.status_code in (400, 422)
    assert response["Content-Type"] == PROBLEM
    assert Transfer.objects.count() == 0
    assert Quote.objects.get(public_id=quote_id).used_at is None


def test_local_phone_format_is_normalised_to_e164(partner_client, corridor):
    quote_id = create_quote(partner_client)
    body = transfer_body(quote_id, recipient={"name": "Joseph", "phone_number": "0708 374149"})
    assert post(partner_client, "/api/v1/transfers", body,
                HTTP_IDEMPOTENCY_KEY="p").status_code == 201
    assert Transfer.objects.get().recipient["phone_number"] == "+254708374149"


def test_personal_data_is_encrypted_at_rest(partner_client, corridor):
    quote_id = create_quote(partner_client)
    post(partner_client, "/api/v1/transfers", transfer_body(quote_id), HTTP_IDEMPOTENCY_KEY="e")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sender, recipient FROM transfers_transfer")
        sender, recipient = cursor.fetchone()
    assert "Amina" not in sender
    assert "Joseph" not in recipient
    assert "254708" not in recipient
    assert Transfer.objects.get().recipient["name"] == "Joseph Mwangi"


# --- idempotency ----------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(partner_client, corridor):
    body = transfer_body(create_quote(partner_client))
    first = post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="same")
    second = post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="same")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Transfer.objects.count() == 1


def test_same_key_with_another_body_is_422(partner_client, corridor):
    quote_id = create_quote(partner_client)
    post(partner_client, "/api/v1/transfers", transfer_body(quote_id), HTTP_IDEMPOTENCY_KEY="k")
    other = transfer_body(quote_id, external_id="changed")
    assert_problem(post(partner_client, "/api/v1/transfers", other, HTTP_IDEMPOTENCY_KEY="k"),
                   422, "idempotency-key-reused")
    assert Transfer.objects.count() == 1


def test_keys_are_scoped_per_partner(partner_client, corridor):
    body = transfer_body(create_quote(partner_client))
    post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="shared")
    other_partner, other_key = make_partner()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    other_body = transfer_body(make_quote(partner=other_partner, corridor=corridor).public_id)
    assert post(other, "/api/v1/transfers", other_body,
                HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    assert Transfer.objects.count() == 2


def test_missing_idempotency_key_is_400(partner_client, corridor):
    body = transfer_body(create_quote(partner_client))
    assert_problem(post(partner_client, "/api/v1/transfers", body), 400,
                   "invalid-idempotency-key")
    assert Transfer.objects.count() == 0


def test_error_answers_are_replayed_too(partner_client, corridor):
    quote = make_quote(partner=partner_client.partner, corridor=corridor,
                       expires_at=timezone.now() - timedelta(seconds=1))
    body = transfer_body(quote.public_id)
    first = post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="err")
    second = post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="err")
    assert first.status_code == second.status_code == 422
    assert first.json() == second.json()


def test_in_flight_key_is_409(partner_client, corridor):
    body = transfer_body(create_quote(partner_client))
    from gateway.transfers.idempotency import request_fingerprint

    IdempotencyRecord.objects.create(
        partner=partner_client.partner, key="busy", method="POST", path="/api/v1/transfers",
        request_fingerprint=request_fingerprint(method="POST", path="/api/v1/transfers",
                                                body=body))
    assert_problem(post(partner_client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="busy"),
                   409, "idempotency-request-in-flight")
    assert Transfer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_transfer(exchange_venue):
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    partner, key = make_partner()
    quote = make_quote(partner=partner, corridor=corridor)
    body = transfer_body(quote.public_id)
    barrier = threading.Barrier(6)
    statuses: list[int] = []
    bodies: list[dict] = []

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        barrier.wait()
        try:
            response = post(client, "/api/v1/transfers", body, HTTP_IDEMPOTENCY_KEY="race")
            statuses.append(response.status_code)
            if response.status_code == 201:
                bodies.append(response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Transfer.objects.count() == 1
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert all(b["id"] == bodies[0]["id"] for b in bodies)
    assert DepositAddress.objects.count() == 1


# --- docs -----------------------------------------------------------------------------------


def test_openapi_schema_and_docs_are_served_without_a_key(db):
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/quotes", "/api/v1/transfers", "/api/v1/transfers/{transfer_id}"} <= set(paths)
    assert client.get("/api/docs/").status_code == 200


def test_unknown_api_path_is_a_json_problem(db):
    response = APIClient().get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


# --- travel rule ----------------------------------------------------------------------------


def test_a_transfer_at_the_travel_rule_threshold_needs_full_ivms101_data(partner_client,
                                                                        corridor):
    quote = make_quote(partner=partner_client.partner, corridor=corridor,
                       amount_in=Decimal("1000.000000"))
    body = assert_problem(post(partner_client, "/api/v1/transfers",
                               transfer_body(quote.public_id), HTTP_IDEMPOTENCY_KEY="tr-1"),
                          422, "travel-rule-data-invalid")
    assert body["errors"]
    assert Transfer.objects.count() == 0
    assert DepositAddress.objects.count() == 0
    assert Quote.objects.get(pk=quote.pk).used_at is None


def test_full_ivms101_data_lets_a_large_transfer_through_and_is_kept_encrypted(partner_client,
                                                                              corridor):
    from tests.compliance.monitoring.test_travel_rule import BENEFICIARY, ORIGINATOR

    quote = make_quote(partner=partner_client.partner, corridor=corridor,
                       amount_in=Decimal("1500.000000"))
    response = post(partner_client, "/api/v1/transfers",
                    transfer_body(quote.public_id,
                                  travel_rule={"originator": ORIGINATOR,
                                               "beneficiary": BENEFICIARY}),
                    HTTP_IDEMPOTENCY_KEY="tr-2")
    assert response.status_code == 201, response.content
    transfer = Transfer.objects.get()
    assert transfer.sender["travel_rule"] == ORIGINATOR
    with connection.cursor() as cursor:
        cursor.execute("SELECT sender FROM transfers_transfer")
        assert "Moi Avenue" not in cursor.fetchone()[0]


def test_a_quote_the_rail_float_cannot_cover_is_refused_and_holds_no_liquidity(partner_client,
                                                                              exchange_venue):
    from ramps.liquidity.models import LiquidityReservation

    make_corridor(venue=exchange_venue)  # its rail has no float at all
    assert_problem(post(partner_client, "/api/v1/quotes", quote_body()), 503,
                   "quote-unavailable")
    assert Quote.objects.count() == 0
    assert not LiquidityReservation.objects.filter(status="active").exists()


def test_a_firm_quote_holds_venue_depth_until_it_is_used(partner_client, corridor):
    from ramps.liquidity.models import LiquidityReservation

    quote_id = create_quote(partner_client)
    reservation = LiquidityReservation.objects.get(quote_reference=quote_id)
    assert reservation.status == "active"
    assert reservation.venue.name == "luno-sandbox"
    post(partner_client, "/api/v1/transfers", transfer_body(quote_id), HTTP_IDEMPOTENCY_KEY="u")
    reservation.refresh_from_db()
    assert reservation.status == "consumed"


def test_a_partners_own_fees_and_margin_apply_to_its_quotes_only(partner_client, corridor):
    from gateway.transfers.models import PartnerPricing

    PartnerPricing.objects.create(partner=partner_client.partner, corridor=corridor,
                                  fee_fixed=Decimal("0"), margin_rate=Decimal("0.01"))
    own = Quote.objects.get(public_id=create_quote(partner_client))
    # fee: the partner's 0 fixed + the corridor's 0.5% (no override) = 0.500000 USDC.
    assert own.amount_fee == Decimal("0.500000")
    assert own.fee_details["margin_rate"] == "0.010000"
    _, other_key = make_partner()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    standard = Quote.objects.get(public_id=post(other, "/api/v1/quotes",
                                                quote_body()).json()["id"])
    assert standard.amount_fee == Decimal("1.000000")
    assert standard.fee_details["margin_rate"] == "0.004000"
