"""From quote to conversion order: any amount a quote accepts converts.

Over random sell amounts, fees, margins and venue amount steps (sandbox exchanges whose markets
have 0 to 4 decimal places and their own minimum size, reached through the real ccxt ``luno``
class), a quote is either refused with a 4xx problem, or its transfer's order is placed with
exactly the quoted amount, fills on the venue, and the conversion's ledger entry balances with
the truncated residue booked as conversion dust.
"""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compliance.models import ScreeningDecision
from gateway.common.money import to_base_units
from gateway.common.problems import DomainError
from gateway.ledger.models import JournalEntry, Posting
from gateway.transfers.models import Corridor, Quote, Transfer
from gateway.transfers.services.conversion import transfer_convert_execute, transfer_convert_start
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.services.quotes import quote_create
from gateway.transfers.states import TransferState
from ramps.liquidity.client import venue_markets_cache_clear
from ramps.liquidity.models import ConversionOrder, Venue
from ramps.liquidity.services import liquidity_reservation_release
from ramps.payouts.models import PayoutAttempt, Rail
from ramps.sandbox.exchange import ExchangeSandbox, MarketConfig
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

S = TransferState

# volume_scale (decimal places of an order's amount) -> the market's minimum order size.
STEPS = {0: Decimal("2"), 1: Decimal("0.5"), 2: Decimal("1"), 3: Decimal("0.25"),
         4: Decimal("0.0005")}


@pytest.fixture(scope="module")
def stepped_sandboxes():
    sandboxes = {}
    for scale, minimum in STEPS.items():
        sandbox = ExchangeSandbox(drift_interval_seconds=0, markets=[MarketConfig(
            "USDCKES", "USDC", "KES", Decimal("129.00"), volume_scale=scale,
            min_volume=minimum, level_volume=Decimal("20000"))])
        sandboxes[scale] = sandbox.start()
    yield sandboxes
    for sandbox in sandboxes.values():
        sandbox.stop()


@pytest.fixture
def setting(db, stepped_sandboxes, monkeypatch):
    from gateway.ledger.services import credit, debit, ledger_entry_post
    from gateway.transfers import tasks as transfer_tasks
    from gateway.webhooks import tasks as webhook_tasks

    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    venue_markets_cache_clear()
    venues = {}
    for scale, sandbox in stepped_sandboxes.items():
        sandbox.reset()
        credentials = sandbox.credentials()
        venues[scale] = Venue.objects.create(
            name=f"luno-scale-{scale}", exchange_id=credentials["exchange_id"],
            api_base_url=credentials["api_base_url"], api_key=credentials["api_key"],
            api_secret=credentials["api_secret"], taker_fee_rate=sandbox.taker_fee_rate)
    corridor = make_corridor(venue=venues[2])
    ledger_entry_post(reference="test:float:quotes", description="float",
                      legs=[debit(f"assets:float:{corridor.rail.code}", "KES",
                                  Decimal("100000000"), kind="asset", floor=True),
                            credit("equity:opening-balances", "KES", Decimal("100000000"),
                                   kind="equity")])
    partner, _ = make_partner()
    return {"venues": venues, "corridor": corridor, "partner": partner,
            "sandboxes": stepped_sandboxes}


def _use(setting, *, scale, fee_fixed, fee_rate, margin, rail_exponent) -> Corridor:
    venue = setting["venues"][scale]
    Venue.objects.exclude(pk=venue.pk).update(is_active=False)
    Venue.objects.filter(pk=venue.pk).update(is_active=True)
    corridor = setting["corridor"]
    Corridor.objects.filter(pk=corridor.pk).update(venue=venue, fee_fixed=fee_fixed,
                                                   fee_rate=fee_rate, margin_rate=margin)
    Rail.objects.filter(pk=corridor.rail_id).update(amount_exponent=rail_exponent)
    return Corridor.objects.select_related("rail", "token", "venue").get(pk=corridor.pk)


def _approved_transfer(setting, corridor: Corridor, quote: Quote) -> Transfer:
    transfer = make_transfer(
        partner=setting["partner"], corridor=corridor, state=S.FUNDED, quote=quote,
        amount_in=quote.amount_in, amount_in_base_units=to_base_units(quote.amount_in, 6),
        amount_fee=quote.amount_fee, amount_out=quote.amount_out, rate=quote.rate)
    approval = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.APPROVE,
        reasons=[], rules_version="test", list_versions={})
    return transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                               updates={"compliance_decision": approval})


def _convert(setting, corridor, quote) -> Transfer:
    """The pipeline's own steps from approval to the payout being recorded."""
    # The quote's held depth is given back, as using it in a transfer would.
    liquidity_reservation_release(quote_reference=str(quote.public_id))
    transfer = _approved_transfer(setting, corridor, quote)
    transfer = transfer_convert_start(transfer_id=transfer.pk)
    assert transfer.state == S.CONVERTING
    return transfer_convert_execute(transfer_id=transfer.pk)


def _conversion_postings(transfer) -> dict[str, Decimal]:
    entry = JournalEntry.objects.get(reference=f"transfer:{transfer.public_id}:conversion")
    sums: dict[str, Decimal] = {}
    for posting in Posting.objects.filter(entry=entry).select_related("account"):
        sums[posting.currency] = sums.get(posting.currency, Decimal(0)) + posting.amount
    dust = Posting.objects.filter(entry=entry, account__code="revenue:conversion-dust")
    return {"sums": sums, "dust": -sum((p.amount for p in dust), Decimal(0))}


def test_a_55_usdc_transfer_sells_54_22_and_books_the_rest_as_dust(setting):
    """The issue's case: 55.00 USDC less 0.775 in fees leaves 54.225, finer than the venue's
    0.01 step; the quote prices 54.22, the order carries 54.22 and fills."""
    corridor = _use(setting, scale=2, fee_fixed=Decimal("0.50"), fee_rate=Decimal("0.005"),
                    margin=Decimal("0.004"), rail_exponent=None)
    quote = quote_create(partner=setting["partner"], sell_asset="USDC:anvil", amount_in="55.00",
                         currency_out="KES")
    assert quote.amount_fee == Decimal("0.775000")
    assert quote.fee_details["amount_sold"] == "54.220000"
    assert quote.fee_details["rounding"] == "0.005000"
    assert quote.amount_out == (Decimal("54.22") * quote.rate).quantize(
        Decimal("0.01"), rounding="ROUND_DOWN")

    transfer = _convert(setting, corridor, quote)

    assert transfer.state == S.PAYOUT_PENDING, transfer.hold_reason
    order = ConversionOrder.objects.get(reference=transfer.reference)
    assert (order.status, order.amount_base, order.filled_base) == (
        ConversionOrder.Status.FILLED, Decimal("54.22"), Decimal("54.22"))
    sandbox_order = setting["sandboxes"][2].order_attempts[-1]["params"]
    assert sandbox_order["base_volume"] == "54.22"
    booked = _conversion_postings(transfer)
    assert booked["sums"] == {"USDC": 0, "KES": 0}
    assert booked["dust"] == Decimal("0.005")
    assert PayoutAttempt.objects.get(owner_reference=transfer.reference).amount == \
        quote.amount_out


REFUSALS = {"invalid-amount", "below-venue-minimum", "below-payout-minimum",
            "above-payout-maximum"}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scale=st.sampled_from(sorted(STEPS)),
       amount=st.decimals(min_value=Decimal("1"), max_value=Decimal("1500"), places=6),
       fee_fixed=st.decimals(min_value=Decimal("0"), max_value=Decimal("3"), places=2),
       fee_rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.05"), places=4),
       margin=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.02"), places=4),
       rail_exponent=st.sampled_from([None, 0]))
def test_every_quoted_amount_converts_and_the_ledger_balances(
        setting, scale, amount, fee_fixed, fee_rate, margin, rail_exponent):
    corridor = _use(setting, scale=scale, fee_fixed=fee_fixed, fee_rate=fee_rate,
                    margin=margin, rail_exponent=rail_exponent)
    quotes_before = Quote.objects.count()
    refused: DomainError | None = None
    try:
        quote = quote_create(partner=setting["partner"], sell_asset="USDC:anvil",
                             amount_in=str(amount), currency_out="KES")
    except DomainError as exc:
        refused = exc
    if refused is not None:
        # A refusal is the sender's to fix (a 4xx naming the rule), and leaves nothing behind.
        assert (refused.slug, refused.status) in {(slug, 422) for slug in REFUSALS}, \
            refused.detail
        assert Quote.objects.count() == quotes_before
        event(f"refused: {refused.slug}")
        return
    event("quoted and converted")
    step = Decimal(1).scaleb(-scale)
    convertible = quote.amount_in - quote.amount_fee
    sold = Decimal(quote.fee_details["amount_sold"])
    assert sold % step == 0
    assert 0 <= convertible - sold < step
    assert sold >= STEPS[scale]
    assert Decimal(quote.fee_details["rounding"]) == convertible - sold

    transfer = _convert(setting, corridor, quote)

    order = ConversionOrder.objects.get(reference=transfer.reference)
    assert order.amount_base == sold
    assert order.status == ConversionOrder.Status.FILLED, order.last_error
    assert order.filled_base == sold
    assert transfer.state == S.PAYOUT_PENDING, transfer.hold_reason
    booked = _conversion_postings(transfer)
    assert set(booked["sums"].values()) == {0}
    assert booked["dust"] == convertible - sold
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert attempt.amount == quote.amount_out
    # The venue paid at least what the quote promised the recipient.
    proceeds = order.filled_quote - order.fee_quote
    assert proceeds >= quote.amount_out


@pytest.fixture
def bitso_setting(db, bitso_venue, monkeypatch):
    """USDC to MXN through the Bitso sandbox (ccxt's ``bitso`` class, tick-size precision,
    amount step read from the exchange's currency catalogue), paid on a MXN rail."""
    from gateway.ledger.services import credit, debit, ledger_entry_post
    from gateway.transfers import tasks as transfer_tasks
    from gateway.webhooks import tasks as webhook_tasks
    from tests.ramps.payouts.factories import make_rail

    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    rail = make_rail(currency="MXN", min_amount=Decimal("10"), max_amount=Decimal("500000"))
    corridor = make_corridor(venue=bitso_venue, rail=rail, currency_out="MXN",
                             venue_symbol="USDC/MXN")
    ledger_entry_post(reference="test:float:bitso", description="float",
                      legs=[debit(f"assets:float:{rail.code}", "MXN", Decimal("100000000"),
                                  kind="asset", floor=True),
                            credit("equity:opening-balances", "MXN", Decimal("100000000"),
                                   kind="equity")])
    partner, _ = make_partner()
    return {"corridor": corridor, "partner": partner}


def _convert_to(setting, corridor: Corridor, quote: Quote) -> Transfer:
    liquidity_reservation_release(quote_reference=str(quote.public_id))
    transfer = make_transfer(
        partner=setting["partner"], corridor=corridor, state=S.FUNDED, quote=quote,
        amount_in=quote.amount_in, amount_in_base_units=to_base_units(quote.amount_in, 6),
        amount_fee=quote.amount_fee, amount_out=quote.amount_out, rate=quote.rate,
        currency_out=quote.currency_out)
    approval = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.APPROVE,
        reasons=[], rules_version="test", list_versions={})
    transfer_transition(transfer_id=transfer.pk, to_state=S.APPROVED,
                        updates={"compliance_decision": approval})
    transfer_convert_start(transfer_id=transfer.pk)
    return transfer_convert_execute(transfer_id=transfer.pk)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(amount=st.decimals(min_value=Decimal("1"), max_value=Decimal("3000"), places=6)
       | st.sampled_from([Decimal("1.50"), Decimal("2.00"), Decimal("55.00")]))
def test_every_amount_quoted_on_another_exchange_class_converts(bitso_setting, amount):
    """The same promise on Bitso, whose amount step ccxt reads from the currency catalogue
    rather than the market: a quoted amount is sold as quoted and fills."""
    corridor = bitso_setting["corridor"]
    refused: DomainError | None = None
    try:
        quote = quote_create(partner=bitso_setting["partner"], sell_asset="USDC:anvil",
                             amount_in=str(amount), currency_out="MXN")
    except DomainError as exc:
        refused = exc
    if refused is not None:
        assert (refused.slug, refused.status) in {(slug, 422) for slug in REFUSALS}, \
            refused.detail
        return
    transfer = _convert_to(bitso_setting, corridor, quote)
    order = ConversionOrder.objects.get(reference=transfer.reference)
    assert order.status == ConversionOrder.Status.FILLED, order.last_error
    assert order.amount_base == Decimal(quote.fee_details["amount_sold"])
    assert transfer.state == S.PAYOUT_PENDING, transfer.hold_reason
    assert PayoutAttempt.objects.get(owner_reference=transfer.reference).amount == \
        quote.amount_out
