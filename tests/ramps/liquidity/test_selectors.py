import datetime as dt
from decimal import Decimal

from django.utils import timezone

from ramps.liquidity.models import ConversionOrder, Venue
from ramps.liquidity.selectors import (
    conversion_order_get_by_reference,
    conversion_orders_unsettled,
    conversion_orders_with_reference_prefix,
    liquidity_reservation_exists,
    venue_get_active,
    venues_active,
)
from ramps.liquidity.services import conversion_order_create, liquidity_reserve


def test_venue_get_active_skips_inactive_venues(db):
    Venue.objects.create(name="a-off", exchange_id="luno", is_active=False)
    on = Venue.objects.create(name="b-on", exchange_id="luno")

    assert venue_get_active() == on
    assert venue_get_active(name="a-off") is None
    assert venue_get_active(name="b-on") == on


def test_unsettled_orders_are_unknown_or_open_and_old_enough(db):
    venue = Venue.objects.create(name="v", exchange_id="luno")
    orders = {
        status: conversion_order_create(venue=venue, reference=status, symbol="USDC/KES",
                                        side="sell", amount_base=Decimal("1"))
        for status in ConversionOrder.Status.values
    }
    for status, order in orders.items():
        ConversionOrder.objects.filter(pk=order.pk).update(
            status=status, updated_at=timezone.now() - dt.timedelta(minutes=5))

    unsettled = conversion_orders_unsettled(older_than_seconds=60)

    assert {order.status for order in unsettled} == {"unknown", "open"}
    assert list(conversion_orders_unsettled(older_than_seconds=3600)) == []
    assert conversion_order_get_by_reference(reference="filled") == orders["filled"]
    assert conversion_order_get_by_reference(reference="missing") is None


def test_venues_active_and_reservation_exists(db):
    off = Venue.objects.create(name="a-off", exchange_id="luno", is_active=False)
    on = Venue.objects.create(name="b-on", exchange_id="luno")

    assert list(venues_active()) == [on]
    assert liquidity_reservation_exists(quote_reference="q-1") is False
    liquidity_reserve(quote_reference="q-1", venue=on, symbol="USDC/KES",
                      amount_base=Decimal("5"))
    assert liquidity_reservation_exists(quote_reference="q-1") is True
    assert liquidity_reservation_exists(quote_reference="q-2") is False
    assert off not in venues_active()


def test_conversion_orders_with_reference_prefix_oldest_first_with_their_venue(db):
    venue = Venue.objects.create(name="v", exchange_id="luno")
    first, second = (
        conversion_order_create(venue=venue, reference=reference, symbol="USDC/KES",
                                side="sell", amount_base=Decimal("1"))
        for reference in ("tr_a", "tr_a:2"))
    conversion_order_create(venue=venue, reference="tr_b", symbol="USDC/KES", side="sell",
                            amount_base=Decimal("1"))

    orders = list(conversion_orders_with_reference_prefix(prefix="tr_a"))
    assert orders == [first, second]
    assert orders[0].venue.name == "v"
