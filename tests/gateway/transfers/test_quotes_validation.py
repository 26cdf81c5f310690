"""Validate before money moves: recipients against the rail's rules, amounts against the rail's
payout limits and the venue's order rules, at quote and at transfer creation; nothing is held,
used, allocated or stored when a request is refused."""

import json
import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.common.phones import PhoneNumberError, phone_parse
from gateway.transfers.models import Corridor, Quote, Transfer
from gateway.transfers.services.quotes import (
    InvalidRecipientError,
    quote_create,
    recipient_phone_validate,
)
from ramps.chain.models import DepositAddress, Token
from ramps.liquidity.models import LiquidityReservation
from ramps.liquidity.rules import OrderBelowVenueMinimumError
from ramps.payouts.models import PayoutAttempt, Rail
from ramps.payouts.rails import (
    MOMO_OPERATORS,
    MPESA_OPERATORS,
    RecipientNotPayableError,
    RecipientRules,
)
from ramps.payouts.services import PayoutValidationError, payout_attempt_create
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor

PROBLEM = "application/problem+json"
LANDLINE = "+254202222222"  # Nairobi fixed line: valid, but no M-Pesa wallet
AIRTEL_KE = "+254733123456"
SAFARICOM = "+254708374149"
SAFARICOM_011 = "+254110123456"


def fund_rail_float(rail_code: str, amount: Decimal, currency: str = "KES") -> None:
    from gateway.ledger.services import credit, debit, ledger_entry_post

    ledger_entry_post(reference=f"test:float:{rail_code}:{uuid.uuid4()}", description="float",
                      legs=[debit(f"assets:float:{rail_code}", currency, amount, kind="asset",
                                  floor=True),
                            credit("equity:opening-balances", currency, amount, kind="equity")])


@pytest.fixture
def corridor(exchange_venue):
    corridor = make_corridor(venue=exchange_venue)
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    return corridor


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def problem(response, status, slug):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["detail"]
    return body


def quote_for(client, amount="100.00"):
    response = post(client, "/api/v1/quotes",
                    {"sell_asset": "USDC:anvil", "sell_amount": amount, "buy_currency": "KES"})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def create_transfer(client, quote_id, phone):
    return post(client, "/api/v1/transfers",
                {"quote_id": quote_id, "sender": {"name": "Amina Odhiambo"},
                 "recipient": {"name": "Joseph Mwangi", "phone_number": phone}},
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


# --- recipients at transfer creation ---------------------------------------------------------


@pytest.mark.parametrize(("phone", "reason", "words"), [
    (LANDLINE, "not_mobile", "not a mobile number (numbering plan: fixed line)"),
    (AIRTEL_KE, "wrong_operator", "is a Airtel line; M-Pesa pays Safaricom lines only"),
    ("+256772123450", "wrong_country", "is a number of UG; M-Pesa pays numbers of KE"),
    ("+2547083741", "invalid_number", "is not a valid phone number"),
    ("0708 374", "invalid_number", "is not a valid phone number"),
    ("call me", "invalid_number", "is not a phone number"),
])
def test_a_recipient_the_rail_cannot_pay_is_refused_at_creation_and_nothing_is_used(
        partner_client, corridor, phone, reason, words):
    quote_id = quote_for(partner_client)
    addresses = DepositAddress.objects.count()

    body = problem(create_transfer(partner_client, quote_id, phone), 422, "invalid-recipient")

    assert words in body["detail"]
    assert body["reason"] == reason
    assert not Transfer.objects.exists()
    assert DepositAddress.objects.count() == addresses
    quote = Quote.objects.get(public_id=quote_id)
    assert quote.used_at is None
    # The quote's venue depth is still held: the sender can correct the number and use it.
    reservation = LiquidityReservation.objects.get(quote_reference=quote_id)
    assert reservation.status == LiquidityReservation.Status.ACTIVE
    response = create_transfer(partner_client, quote_id, "0708 374 149")
    assert response.status_code == 201, response.content
    transfer = Transfer.objects.get()
    assert transfer.recipient["phone_number"] == SAFARICOM


@pytest.mark.parametrize("phone", [SAFARICOM, SAFARICOM_011, "0712345678", "254708374149"])
def test_safaricom_numbers_in_any_usual_form_are_accepted_in_e164(partner_client, corridor,
                                                                  phone):
    expected = phone_parse(phone, default_region="KE").e164
    response = create_transfer(partner_client, quote_for(partner_client), phone)
    assert response.status_code == 201, response.content
    assert Transfer.objects.get().recipient["phone_number"] == expected


# --- recipients at quote -----------------------------------------------------------------------


def test_a_quote_asked_with_an_unpayable_recipient_is_refused_before_pricing(corridor,
                                                                             exchange_sandbox):
    partner, _ = make_partner()
    with pytest.raises(InvalidRecipientError, match="fixed line") as refused:
        quote_create(partner=partner, sell_asset="USDC:anvil", amount_in="100.00",
                     currency_out="KES", recipient_phone=LANDLINE)
    assert refused.value.slug == "invalid-recipient"
    assert not Quote.objects.exists()
    assert not LiquidityReservation.objects.exists()
    assert exchange_sandbox.order_attempts == []
    quote = quote_create(partner=partner, sell_asset="USDC:anvil", amount_in="100.00",
                         currency_out="KES", recipient_phone=SAFARICOM)
    assert quote.amount_out > 0


def test_the_quote_api_checks_a_recipient_number_when_given(partner_client, corridor):
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "100.00",
                         "buy_currency": "KES", "recipient_phone_number": AIRTEL_KE}),
                   422, "invalid-recipient")
    assert body["reason"] == "wrong_operator"
    assert not Quote.objects.exists()
    assert not LiquidityReservation.objects.exists()
    response = post(partner_client, "/api/v1/quotes",
                    {"sell_asset": "USDC:anvil", "sell_amount": "100.00",
                     "buy_currency": "KES", "recipient_phone_number": SAFARICOM})
    assert response.status_code == 201, response.content


def test_momo_pays_only_mtn_lines_of_its_country(db):
    rail = Rail.objects.create(code="momo-ug-rules", kind=Rail.Kind.MOMO_DISBURSEMENT,
                               country="UG", currency="UGX", base_url="http://127.0.0.1:1",
                               min_amount=Decimal("500"), max_amount=Decimal("5000000"))
    corridor = make_corridor(rail=rail, currency_out="UGX", venue_symbol="USDC/UGX")
    assert recipient_phone_validate(corridor=corridor, phone="0772 123450") == "+256772123450"
    with pytest.raises(InvalidRecipientError, match="Airtel line; MTN MoMo pays MTN lines"):
        recipient_phone_validate(corridor=corridor, phone="+256701234567")
    with pytest.raises(InvalidRecipientError, match="fixed line"):
        recipient_phone_validate(corridor=corridor, phone="+256392123456")
    with pytest.raises(InvalidRecipientError, match="number of KE"):
        recipient_phone_validate(corridor=corridor, phone=SAFARICOM)


def test_cash_pickup_needs_a_number_that_receives_the_code_by_sms(db):
    corridor = make_corridor(rail=None, payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    assert recipient_phone_validate(corridor=corridor, phone=AIRTEL_KE) == AIRTEL_KE
    assert recipient_phone_validate(corridor=corridor, phone="+256772123450") == "+256772123450"
    with pytest.raises(InvalidRecipientError, match="cash pickup pays mobile numbers only"):
        recipient_phone_validate(corridor=corridor, phone=LANDLINE)
    with pytest.raises(InvalidRecipientError, match="international phone number"):
        recipient_phone_validate(corridor=corridor, phone="0708374149")


def test_the_payout_service_applies_the_same_rail_rules(daraja_rail):
    with pytest.raises(PayoutValidationError, match="Safaricom lines only"):
        payout_attempt_create(rail=daraja_rail, owner_reference="tr_rules", amount=Decimal("100"),
                              currency="KES", recipient_msisdn=AIRTEL_KE, remarks="Remittance")
    assert not PayoutAttempt.objects.exists()


KENYAN_NATIONAL = st.from_regex(r"\A(7|1|2|4|5)[0-9]{8}\Z", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(national=KENYAN_NATIONAL)
def test_mpesa_rules_accept_exactly_the_valid_safaricom_mobiles(national):
    """Over random Kenyan numbers: accepted iff phonenumbers calls it a valid mobile held by
    Safaricom, and then always as the E.164 form."""
    rules = RecipientRules(service="M-Pesa", country="KE", operators=MPESA_OPERATORS["KE"])
    try:
        facts = phone_parse("+254" + national)
    except PhoneNumberError:
        facts = None
    payable = (facts is not None and facts.is_mobile and facts.region == "KE"
               and facts.operator == "Safaricom")
    if payable:
        assert rules.check("0" + national) == "+254" + national
    else:
        with pytest.raises(RecipientNotPayableError):
            rules.check("0" + national)


@settings(max_examples=200, deadline=None)
@given(country=st.sampled_from(sorted(MOMO_OPERATORS)), digits=st.from_regex(
    r"\A[0-9]{7,10}\Z", fullmatch=True))
def test_momo_rules_never_accept_another_country_or_operator(country, digits):
    import phonenumbers

    rules = RecipientRules(service="MTN MoMo", country=country,
                           operators=MOMO_OPERATORS[country])
    prefix = phonenumbers.country_code_for_region(country)
    try:
        e164 = rules.check(f"+{prefix}{digits}")
    except RecipientNotPayableError:
        return
    facts = phone_parse(e164)
    assert facts.region == country
    assert facts.is_mobile
    assert any(facts.operator.startswith(name) for name in MOMO_OPERATORS[country])


# --- amounts against the rail and the venue ----------------------------------------------------


def test_a_quote_below_the_rails_minimum_payout_is_refused_and_releases_its_depth(
        partner_client, corridor):
    Rail.objects.filter(pk=corridor.rail_id).update(min_amount=Decimal("5000"))
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "20.00",
                         "buy_currency": "KES"}), 422, "below-payout-minimum")
    assert body["payout_minimum"] == "5000.00"
    assert Decimal(body["amount_out"]) < Decimal("5000")
    assert not Quote.objects.exists()
    assert set(LiquidityReservation.objects.values_list("status", flat=True)) == {
        LiquidityReservation.Status.RELEASED}


def test_a_quote_above_the_rails_maximum_payout_is_refused(partner_client, corridor):
    Rail.objects.filter(pk=corridor.rail_id).update(max_amount=Decimal("1000"))
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "100.00",
                         "buy_currency": "KES"}), 422, "above-payout-maximum")
    assert body["payout_maximum"] == "1000.00"
    assert not Quote.objects.exists()
    assert not LiquidityReservation.objects.filter(
        status=LiquidityReservation.Status.ACTIVE).exists()


def test_a_conversion_below_the_venues_minimum_order_is_refused_at_quote(corridor,
                                                                         exchange_sandbox):
    # 1.20 USDC less 0.50 + 0.6% in fees leaves 0.69 USDC: the sandbox market's minimum is 1.
    partner, _ = make_partner()
    with pytest.raises(OrderBelowVenueMinimumError, match="minimum order of 1") as refused:
        quote_create(partner=partner, sell_asset="USDC:anvil", amount_in="1.20",
                     currency_out="KES")
    assert refused.value.status == 422
    assert refused.value.extra["venue_minimum"] == "1"
    assert [c["venue"] for c in refused.value.extra["candidates"]] == ["luno-sandbox"]
    assert not Quote.objects.exists()
    assert not LiquidityReservation.objects.exists()


def test_a_conversion_above_the_venues_cap_is_refused_at_quote_as_a_problem(partner_client,
                                                                            corridor):
    corridor.venue.max_order_base = Decimal("50")
    corridor.venue.save()
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "100.00",
                         "buy_currency": "KES"}), 422, "above-venue-maximum")
    assert body["venue_maximum"] == "50"
    assert not Quote.objects.exists()


@pytest.mark.parametrize("amount", ["1e22", "1E+30", "99999999999999999999999.5"])
def test_huge_amounts_are_an_invalid_amount_problem_not_a_500(partner_client, corridor, amount):
    problem(post(partner_client, "/api/v1/quotes",
                 {"sell_asset": "USDC:anvil", "sell_amount": amount, "buy_currency": "KES"}),
            422, "invalid-amount")
    assert not Quote.objects.exists()



def test_a_rail_set_to_finer_amounts_than_its_currency_has_is_a_problem_not_a_500(
        partner_client, corridor):
    """An operator's slip (KES has two decimals, the rail says three): quoting answers a 503
    naming the rail's setting, holds nothing, and the admin refuses to save such a rail."""
    from django.core.exceptions import ValidationError

    Rail.objects.filter(pk=corridor.rail_id).update(amount_exponent=3)
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "100.00",
                         "buy_currency": "KES"}), 503, "quote-unavailable")
    assert "decimal places" in body["detail"]
    assert not Quote.objects.exists()
    assert not LiquidityReservation.objects.filter(
        status=LiquidityReservation.Status.ACTIVE).exists()
    rail = Rail.objects.get(pk=corridor.rail_id)
    with pytest.raises(ValidationError, match="decimal places"):
        rail.full_clean()
    rail.amount_exponent = 0
    rail.full_clean()
    rail.min_amount, rail.max_amount = Decimal("500"), Decimal("10")
    with pytest.raises(ValidationError, match="largest payout"):
        rail.full_clean()


@pytest.mark.parametrize(("phone", "country", "expected"), [
    ("0712 345 678", "KE", "+254712345678"),
    ("0772-123-450", "ug", "+256772123450"),
    ("+256772123450", "KE", "+256772123450"),  # an international number keeps its country
])
def test_cash_pickup_reads_a_national_number_in_the_recipients_country(db, phone, country,
                                                                       expected):
    corridor = make_corridor(rail=None, payout_method=Corridor.PayoutMethod.CASH_PICKUP)
    assert recipient_phone_validate(corridor=corridor, phone=phone, region=country) == expected
    with pytest.raises(InvalidRecipientError, match="international phone number"):
        recipient_phone_validate(corridor=corridor, phone=phone.replace("+", "0"))
    with pytest.raises(InvalidRecipientError, match="fixed line"):
        recipient_phone_validate(corridor=corridor, phone="020 2222222", region="KE")


def test_a_mobile_money_rail_keeps_its_own_country_whatever_the_recipients(db):
    corridor = make_corridor()
    assert recipient_phone_validate(corridor=corridor, phone="0708374149",
                                    region="UG") == SAFARICOM


def test_transfer_creation_reads_a_cash_pickup_number_in_the_recipients_country(
        partner_client, exchange_venue):
    from ramps.payouts.agents.models import AgentNetwork, CashPickupCorridor

    corridor = make_corridor(rail=None, payout_method=Corridor.PayoutMethod.CASH_PICKUP,
                             venue=exchange_venue)
    CashPickupCorridor.objects.create(
        corridor=corridor, network=AgentNetwork.objects.create(code="net", name="Agents"))
    fund_rail_float(corridor.rail.code, Decimal("1000000.00"))
    response = post(partner_client, "/api/v1/transfers",
                    {"quote_id": quote_for(partner_client), "sender": {"name": "Amina"},
                     "recipient": {"name": "Joseph", "phone_number": "0733 123 456",
                                   "country": "KE"}},
                    HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    assert Transfer.objects.get().recipient["phone_number"] == AIRTEL_KE


def test_a_corridor_whose_token_is_no_longer_accepted_gives_no_quote(partner_client, corridor):
    """Its deposits would be flagged and refunded, never credited: no quote is issued for it,
    and a quote given before cannot open a transfer."""
    early = quote_for(partner_client)
    from ramps.chain.models import Token

    Token.objects.filter(pk=corridor.token_id).update(is_accepted=False)
    problem(post(partner_client, "/api/v1/quotes",
                 {"sell_asset": "USDC:anvil", "sell_amount": "100.00", "buy_currency": "KES"}),
            422, "unknown-corridor")
    assert Quote.objects.count() == 1
    problem(create_transfer(partner_client, early, SAFARICOM), 422, "unknown-corridor")
    assert not Transfer.objects.exists()


def test_a_sell_amount_too_small_for_the_venue_says_the_smallest_that_works(partner_client,
                                                                            corridor):
    # 1.00 USDC is within the corridor's 1-10000, but after 0.50 + 0.5% in fees only 0.495 is
    # left to sell, and the sandbox market's minimum order is 1 USDC.
    body = problem(post(partner_client, "/api/v1/quotes",
                        {"sell_asset": "USDC:anvil", "sell_amount": "1.00",
                         "buy_currency": "KES"}), 422, "below-venue-minimum")
    assert body["venue_minimum"] == "1"
    assert body["min_sell_amount"] == "1.507538"
    assert body["detail"] == (
        "Selling 1.000000 USDC leaves 0.495000 USDC to convert after the fee of 0.505000 USDC, "
        "below the conversion venue's minimum order of 1 USDC. Sell at least 1.507538 USDC.")
    assert not Quote.objects.exists()
    problem(post(partner_client, "/api/v1/quotes",
                 {"sell_asset": "USDC:anvil", "sell_amount": "1.507537", "buy_currency": "KES"}),
            422, "below-venue-minimum")
    accepted = post(partner_client, "/api/v1/quotes",
                    {"sell_asset": "USDC:anvil", "sell_amount": "1.507538",
                     "buy_currency": "KES"})
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["fee"]["total"] == "0.507538"


@settings(max_examples=200, deadline=None)
@given(convertible=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("500"),
                               places=6),
       fee_fixed=st.decimals(min_value=Decimal("0"), max_value=Decimal("5"), places=2),
       fee_rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.05"), places=4))
def test_the_smallest_sell_amount_leaves_exactly_enough_after_the_fees(convertible, fee_fixed,
                                                                       fee_rate):
    from gateway.common.money import money_round
    from gateway.transfers.services.quotes import Pricing, sell_amount_covering

    corridor = Corridor(min_amount_in=Decimal("0.000001"), max_amount_in=Decimal("10000"),
                        token=Token(symbol="USDC"))
    pricing = Pricing(fee_fixed=fee_fixed, fee_rate=fee_rate, margin_rate=Decimal("0"))

    def left(amount: Decimal) -> Decimal:  # what quote_create leaves to convert
        return amount - fee_fixed - money_round(amount * fee_rate, "USDC", rounding="ROUND_UP")

    smallest = sell_amount_covering(convertible=convertible, corridor=corridor, pricing=pricing)
    assert smallest == smallest.quantize(Decimal("0.000001"))
    assert left(smallest) >= convertible
    assert left(smallest - Decimal("0.000001")) < convertible
