"""Venue market rules on the real ccxt classes: truncation to the amount step in every ccxt
precision mode, minimum/maximum size, cost and price range, and the limit price of a buy."""

import functools
from decimal import Decimal

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramps.liquidity.rules import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    MarketRules,
    OrderAboveVenueMaximumError,
    OrderBelowVenueMinimumError,
    OrderPriceOutOfRangeError,
    limit_price,
    market_rules,
    order_amount,
    order_check,
)


def luno_with_market(*, amount_step: float, price_tick: float, amount_min: float | None = 1.0,
                     amount_max: float | None = None, cost_min: float | None = None):
    """The real ccxt ``luno`` class (TICK_SIZE precision mode) with one market set by hand."""
    exchange = ccxt.luno()
    exchange.set_markets([{
        "id": "USDCKES", "symbol": "USDC/KES", "base": "USDC", "quote": "KES",
        "baseId": "USDC", "quoteId": "KES", "type": "spot", "spot": True, "active": True,
        "precision": {"amount": amount_step, "price": price_tick},
        "limits": {"amount": {"min": amount_min, "max": amount_max},
                   "price": {"min": price_tick, "max": 12900.0},
                   "cost": {"min": cost_min, "max": None}},
    }])
    return exchange


def test_rules_come_from_the_ccxt_market_and_its_precision_mode():
    exchange = luno_with_market(amount_step=0.01, price_tick=0.01, amount_max=10000000.0)
    rules = market_rules(exchange, "USDC/KES")
    assert rules.precision_mode == TICK_SIZE == exchange.precisionMode
    assert (rules.amount_precision, rules.amount_step) == (Decimal("0.01"), Decimal("0.01"))
    assert rules.price_tick == Decimal("0.01")
    assert (rules.amount_min, rules.amount_max) == (Decimal("1.0"), Decimal("10000000.0"))
    assert (rules.price_min, rules.price_max) == (Decimal("0.01"), Decimal("12900.0"))
    assert rules.cost_min is None


def test_the_55_usdc_case_truncates_to_the_step_like_ccxt():
    exchange = luno_with_market(amount_step=0.01, price_tick=0.01)
    rules = market_rules(exchange, "USDC/KES")
    assert order_amount(rules, Decimal("54.225000")) == Decimal("54.22")
    assert exchange.amount_to_precision("USDC/KES", "54.225000") == "54.22"


@pytest.mark.parametrize(("mode", "precision", "amount", "expected"), [
    (DECIMAL_PLACES, Decimal(2), Decimal("54.229999"), Decimal("54.22")),
    (DECIMAL_PLACES, Decimal(0), Decimal("54.9"), Decimal("54")),
    (SIGNIFICANT_DIGITS, Decimal(3), Decimal("54.229999"), Decimal("54.2")),
    (TICK_SIZE, Decimal("0.05"), Decimal("54.229999"), Decimal("54.20")),
    (TICK_SIZE, Decimal("0.000001"), Decimal("54.229999"), Decimal("54.229999")),
    (TICK_SIZE, Decimal("0.01"), Decimal("0.009"), Decimal("0")),
])
def test_order_amount_in_every_precision_mode(mode, precision, amount, expected):
    rules = MarketRules(symbol="USDC/KES", precision_mode=mode, amount_precision=precision)
    assert order_amount(rules, amount) == expected


@settings(max_examples=300, deadline=None)
@given(amount=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("10000000"),
                          places=6),
       step_exponent=st.integers(min_value=-6, max_value=2),
       step_multiple=st.sampled_from([1, 2, 5, 25]))
def test_order_amount_is_on_the_step_never_more_and_less_than_one_step_short(
        amount, step_exponent, step_multiple):
    step = Decimal(step_multiple).scaleb(step_exponent)
    rules = MarketRules(symbol="USDC/KES", precision_mode=TICK_SIZE, amount_precision=step)
    rounded = order_amount(rules, amount)
    assert rounded % step == 0
    assert 0 <= amount - rounded < step
    # What the venue's ccxt class would send for it is the same amount.
    exchange = _luno_for_step(step)
    if rounded > 0:
        assert Decimal(exchange.amount_to_precision("USDC/KES", str(amount))) == rounded


@functools.lru_cache(maxsize=64)
def _luno_for_step(step: Decimal):
    return luno_with_market(amount_step=float(step), price_tick=0.01)


def test_order_amount_leaves_the_global_decimal_context_alone():
    import decimal

    before = decimal.getcontext().copy()
    rules = MarketRules(symbol="USDC/KES", precision_mode=TICK_SIZE,
                        amount_precision=Decimal("0.01"))
    order_amount(rules, Decimal("1.005"))
    after = decimal.getcontext()
    assert (after.rounding, after.prec, after.traps) == (before.rounding, before.prec,
                                                          before.traps)


def test_order_check_names_the_rule_that_refuses():
    rules = MarketRules(symbol="USDC/KES", precision_mode=TICK_SIZE,
                        amount_precision=Decimal("0.01"), price_precision=Decimal("0.01"),
                        amount_min=Decimal("1"), amount_max=Decimal("500"),
                        price_min=Decimal("1"), price_max=Decimal("1000"),
                        cost_min=Decimal("200"), cost_max=Decimal("50000"))
    order_check(rules, amount=Decimal("2"), price=Decimal("129"), cost=Decimal("258"))
    with pytest.raises(OrderBelowVenueMinimumError, match="below the venue's minimum order of 1"):
        order_check(rules, amount=Decimal("0.99"))
    with pytest.raises(OrderBelowVenueMinimumError, match="one USDC step"):
        order_check(rules, amount=Decimal("0"))
    with pytest.raises(OrderAboveVenueMaximumError, match="maximum order of 500"):
        order_check(rules, amount=Decimal("500.01"))
    with pytest.raises(OrderBelowVenueMinimumError, match="minimum of 200 KES") as below_cost:
        order_check(rules, amount=Decimal("1.5"), price=Decimal("129"), cost=Decimal("193.5"))
    assert below_cost.value.extra == {"venue_minimum_cost": "200"}
    assert below_cost.value.slug == "below-venue-minimum"
    with pytest.raises(OrderAboveVenueMaximumError, match="maximum of 50000 KES"):
        order_check(rules, amount=Decimal("400"), price=Decimal("129"), cost=Decimal("51600"))
    with pytest.raises(OrderPriceOutOfRangeError) as price:
        order_check(rules, amount=Decimal("2"), price=Decimal("1000.01"), cost=Decimal("2000"))
    assert price.value.slug == "venue-price-out-of-range"


@pytest.mark.parametrize(("side", "price", "expected"), [
    ("buy", Decimal("129.005"), Decimal("129.01")),
    ("buy", Decimal("129.001"), Decimal("129.01")),  # ccxt's round-to-nearest would give 129.00
    ("buy", Decimal("129.01"), Decimal("129.01")),
    ("sell", Decimal("129.009"), Decimal("129.00")),
])
def test_a_limit_price_is_on_the_tick_and_still_reaches_the_level(side, price, expected):
    rules = market_rules(luno_with_market(amount_step=0.01, price_tick=0.01), "USDC/KES")
    assert limit_price(rules, price, side=side) == expected
