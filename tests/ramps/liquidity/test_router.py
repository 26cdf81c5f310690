"""The router over two real ccxt classes (luno and bitso) on their sandboxes, and firm-quote
reservations."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway.common.problems import ConflictError
from ramps.liquidity.client import venue_markets_cache_clear
from ramps.liquidity.models import LiquidityReservation, Venue
from ramps.liquidity.router import NoRouteError, route_quote, route_quote_firm
from ramps.liquidity.services import (
    InsufficientLiquidityError,
    ReservationError,
    ReservationExpiredError,
    fx_reference_record,
    liquidity_reservation_consume,
    liquidity_reservation_release,
    liquidity_reservations_expire,
    liquidity_reserve,
    venue_price_quote,
)
from ramps.sandbox.exchange import MarketConfig
from ramps.sandbox.exchange_bitso import BitsoSandbox

LUNO_BOOK = {"action": "set_book", "pair": "USDCKES",
             "bids": [["129.00", "100"], ["128.50", "200"]], "asks": [["129.50", "300"]]}
BITSO_BOOK = {"action": "set_book", "pair": "usdc_kes",
              "bids": [["129.20", "50"], ["128.00", "500"]], "asks": [["129.90", "300"]]}


@pytest.fixture(scope="module")
def bitso_kes_server():
    sandbox = BitsoSandbox(drift_interval_seconds=0, markets=[
        MarketConfig("usdc_kes", "USDC", "KES", Decimal("129")),
        MarketConfig("usdc_usd", "USDC", "USD", Decimal("1.0000"), price_scale=4),
    ], balances={"USDC": "100000", "KES": "10000000", "USD": "100000"})
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def venues(exchange_venue, exchange_sandbox, bitso_kes_server):
    bitso_kes_server.reset()
    venue_markets_cache_clear()
    exchange_sandbox.control(LUNO_BOOK)
    bitso_kes_server.control(BITSO_BOOK)
    credentials = bitso_kes_server.credentials()
    bitso = Venue.objects.create(name="bitso-kes", taker_fee_rate=Decimal("0.002"),
                                 **credentials)
    exchange_venue.taker_fee_rate = Decimal("0.002")
    exchange_venue.save()
    return exchange_venue, bitso


def _route(venues, amount, **options):
    return route_quote(venues=list(venues), symbol="USDC/KES", side="sell",
                       amount_base=Decimal(amount), **options)


def test_small_size_goes_to_the_best_top_of_book(venues):
    _luno, bitso = venues

    routed = _route(venues, "40", payout_fee=Decimal("15"))

    assert routed.venue == bitso
    assert routed.vwap == Decimal("129.20")
    assert routed.amount_quote_gross == Decimal("5168.00")
    assert routed.venue_fee == Decimal("10.33600")
    assert routed.amount_quote_net == Decimal("5168.00") - Decimal("10.336") - 15
    assert [c.venue.name for c in routed.candidates] == ["luno-sandbox", "bitso-kes"]
    independent = venue_price_quote(venue=bitso, symbol="USDC/KES", side="sell",
                                    amount_base=Decimal("40"))
    assert routed.vwap == independent.vwap


def test_large_size_goes_to_the_deeper_book(venues):
    luno, _bitso = venues

    routed = _route(venues, "250")

    # luno: 100 x 129.00 + 150 x 128.50 = 32175; bitso: 50 x 129.20 + 200 x 128.00 = 32060
    assert routed.venue == luno
    assert routed.amount_quote_gross == Decimal("32175.00")
    by_venue = {c.venue.name: c.amount_quote_gross for c in routed.candidates}
    assert by_venue == {"luno-sandbox": Decimal("32175.00"), "bitso-kes": Decimal("32060.00")}


def test_fees_can_outweigh_a_better_book(venues):
    luno, bitso = venues
    bitso.taker_fee_rate = Decimal("0.0065")
    bitso.save()

    routed = _route([luno, bitso], "40")

    # luno 5160 x 0.998 = 5149.68 > bitso 5168 x 0.9935 = 5134.408
    assert routed.venue == luno
    assert routed.amount_quote_net == Decimal("5149.68000")


def test_venue_order_cap_leaves_the_venue_out(venues):
    luno, bitso = venues
    bitso.max_order_base = Decimal("30")
    bitso.save()

    routed = _route([luno, bitso], "40")

    assert routed.venue == luno
    assert routed.candidates[1].reason == "above the venue's order cap of 30"


def test_stale_book_on_one_venue_routes_to_the_other(venues, bitso_kes_server, settings):
    settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS = 30
    bitso_kes_server.control({"action": "freeze_book", "pair": "usdc_kes", "age_seconds": 90})

    routed = _route(venues, "40")

    assert routed.venue == venues[0]
    assert "old" in routed.candidates[1].reason


def test_no_venue_fresh_enough_is_no_route(venues, bitso_kes_server, exchange_sandbox,
                                           settings):
    settings.LIQUIDITY_BOOK_MAX_AGE_SECONDS = 30
    bitso_kes_server.control({"action": "freeze_book", "age_seconds": 90})
    exchange_sandbox.control({"action": "freeze_book", "age_seconds": 90})

    with pytest.raises(NoRouteError) as raised:
        _route(venues, "40")
    assert len(raised.value.extra["candidates"]) == 2


def test_size_beyond_every_book_is_insufficient_liquidity(venues):
    with pytest.raises(InsufficientLiquidityError):
        _route(venues, "600")


def test_cross_via_usd_with_a_fresh_reference(venues, bitso_kes_server):
    bitso_kes_server.control({"action": "set_book", "pair": "usdc_usd",
                              "bids": [["0.9990", "1000"]], "asks": [["1.0010", "1000"]]})
    fx_reference_record(base="USD", quote="TZS", rate=Decimal("2600.5"), source="fixing",
                        observed_at=timezone.now())

    routed = route_quote(venues=list(venues), base="USDC", quote="TZS", side="sell",
                         amount_base=Decimal("100"))

    assert (routed.venue, routed.symbol) == (venues[1], "USDC/USD")
    assert routed.fx_rate == Decimal("2600.5")
    # 100 x 0.9990 = 99.90 USD, less 0.2 %, x 2600.5
    assert routed.amount_quote_net == Decimal("99.90") * Decimal("0.998") * Decimal("2600.5")
    assert routed.breakdown()["fx_source"] == "fixing"


def test_stale_reference_is_never_used(venues, settings):
    settings.LIQUIDITY_FX_MAX_AGE_SECONDS = 60
    fx_reference_record(base="USD", quote="TZS", rate=Decimal("2600"), source="fixing",
                        observed_at=timezone.now() - dt.timedelta(seconds=61))

    with pytest.raises(NoRouteError):
        route_quote(venues=list(venues), base="USDC", quote="TZS", side="sell",
                    amount_base=Decimal("100"))


def test_indicative_quote_reserves_nothing(venues):
    _route(venues, "40")

    assert LiquidityReservation.objects.count() == 0


def test_firm_quote_holds_depth_for_the_next_quote(venues):
    luno, bitso = venues

    first, reservation = route_quote_firm(quote_reference="q-1", venues=venues,
                                          symbol="USDC/KES", side="sell",
                                          amount_base=Decimal("50"))
    second = _route(venues, "40")

    assert first.venue == bitso
    assert reservation.amount_base == Decimal("50")
    # bitso's 50 at 129.20 are held: its next 40 would fetch 128.00, so luno's 129.00 wins
    assert second.venue == luno
    assert second.candidates[1].amount_quote_gross == Decimal("5120.00")


def test_firm_quote_is_used_once(venues):
    route_quote_firm(quote_reference="q-2", venues=venues, symbol="USDC/KES", side="sell",
                     amount_base=Decimal("10"))

    used = liquidity_reservation_consume(quote_reference="q-2")
    with pytest.raises(ReservationError) as raised:
        liquidity_reservation_consume(quote_reference="q-2")

    assert used.status == LiquidityReservation.Status.CONSUMED
    assert raised.value.extra == {"reservation_status": "consumed"}
    with pytest.raises(ReservationError):
        liquidity_reservation_release(quote_reference="q-2")


def test_expired_firm_quote_is_refused_and_frees_its_depth(venues, settings):
    _luno, bitso = venues
    reservation = liquidity_reserve(quote_reference="q-3", venue=bitso, symbol="USDC/KES",
                                    amount_base=Decimal("50"))
    LiquidityReservation.objects.filter(pk=reservation.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert _route(venues, "40").venue == bitso  # expired depth is free again
    with pytest.raises(ReservationExpiredError):
        liquidity_reservation_consume(quote_reference="q-3")
    assert LiquidityReservation.objects.get().status == LiquidityReservation.Status.EXPIRED


def test_client_expiry_is_capped(venues, settings):
    settings.LIQUIDITY_FIRM_QUOTE_MAX_SECONDS = 30
    before = timezone.now()

    reservation = liquidity_reserve(quote_reference="q-4", venue=venues[0], symbol="USDC/KES",
                                    amount_base=Decimal("5"),
                                    expires_at=before + dt.timedelta(hours=2))

    assert before + dt.timedelta(seconds=30) <= reservation.expires_at
    assert reservation.expires_at <= timezone.now() + dt.timedelta(seconds=30)


def test_reserve_is_idempotent_and_refuses_other_terms(venues):
    first = liquidity_reserve(quote_reference="q-5", venue=venues[0], symbol="USDC/KES",
                              amount_base=Decimal("5"))
    again = liquidity_reserve(quote_reference="q-5", venue=venues[0], symbol="USDC/KES",
                              amount_base=Decimal("5"))

    assert again.pk == first.pk
    with pytest.raises(ConflictError):
        liquidity_reserve(quote_reference="q-5", venue=venues[0], symbol="USDC/KES",
                          amount_base=Decimal("6"))


def test_expiry_task_closes_only_past_reservations(venues):
    live = liquidity_reserve(quote_reference="q-6", venue=venues[0], symbol="USDC/KES",
                             amount_base=Decimal("5"))
    old = liquidity_reserve(quote_reference="q-7", venue=venues[0], symbol="USDC/KES",
                            amount_base=Decimal("5"))
    LiquidityReservation.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert liquidity_reservations_expire() == 1
    live.refresh_from_db()
    old.refresh_from_db()
    assert (live.status, old.status) == ("active", "expired")


# -- venue order rules (ccxt market precision and limits) -------------------------------------


def test_each_venue_prices_the_amount_its_market_can_take(venues):
    luno, bitso = venues

    routed = _route([luno], "40.123456")

    # Luno's USDC/KES takes 0.01 steps: 40.12 is sold and priced, the rest is not.
    assert (routed.amount_base, routed.amount_requested) == (Decimal("40.12"),
                                                             Decimal("40.123456"))
    assert routed.amount_quote_gross == Decimal("40.12") * Decimal("129.00")
    assert routed.rate == routed.amount_quote_net / Decimal("40.12")
    both = _route(venues, "40.123456")
    by_venue = {c.venue.name: c.amount_base for c in both.candidates}
    assert by_venue == {"luno-sandbox": Decimal("40.12"), "bitso-kes": Decimal("40.123456")}
    assert both.venue == bitso
    assert both.amount_base == Decimal("40.123456")


def test_a_firm_quote_holds_the_truncated_amount(venues):
    luno, _bitso = venues

    routed, reservation = route_quote_firm(quote_reference="q-step", venues=[luno],
                                           symbol="USDC/KES", side="sell",
                                           amount_base=Decimal("10.999999"))

    assert routed.amount_base == reservation.amount_base == Decimal("10.99")


def test_a_size_every_venue_refuses_by_its_rules_is_a_422_naming_the_rule(venues):
    from ramps.liquidity.rules import OrderBelowVenueMinimumError

    with pytest.raises(OrderBelowVenueMinimumError) as refused:
        _route(venues, "0.5")

    assert refused.value.status == 422
    assert refused.value.extra["venue_minimum"] == "1"
    reasons = [c["reason"] for c in refused.value.extra["candidates"]]
    assert reasons == ["0.5 USDC is below the venue's minimum order of 1 USDC on USDC/KES.",
                       "0.5 USDC is below the venue's minimum order of 1 USDC on USDC/KES."]
    assert not LiquidityReservation.objects.exists()


def test_a_size_below_one_step_is_refused_as_below_the_minimum(venues):
    from ramps.liquidity.rules import OrderBelowVenueMinimumError

    luno, _bitso = venues
    with pytest.raises(OrderBelowVenueMinimumError, match="Less than one USDC step"):
        _route([luno], "0.009")


def test_a_rule_refusal_next_to_an_unreachable_venue_is_no_route(venues):
    luno, _bitso = venues
    down = Venue.objects.create(name="down", exchange_id="bitso",
                                api_base_url="http://127.0.0.1:1", api_key="k", api_secret="s")

    with pytest.raises(NoRouteError) as no_route:
        _route([luno, down], "0.5")

    assert no_route.value.status == 503
    assert [c["venue"] for c in no_route.value.extra["candidates"]] == ["luno-sandbox", "down"]


def test_a_venue_cap_below_the_size_on_every_venue_is_above_venue_maximum(venues):
    from ramps.liquidity.rules import OrderAboveVenueMaximumError

    luno, bitso = venues
    Venue.objects.filter(pk__in=[luno.pk, bitso.pk]).update(max_order_base=Decimal("30"))
    luno.refresh_from_db()
    bitso.refresh_from_db()

    with pytest.raises(OrderAboveVenueMaximumError) as refused:
        _route([luno, bitso], "40")

    assert refused.value.extra["venue_maximum"] == "30"
