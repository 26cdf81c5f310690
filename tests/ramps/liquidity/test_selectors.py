import datetime as dt
from decimal import Decimal

from django.utils import timezone

from ramps.liquidity.models import ConversionOrder, Venue
from ramps.liquidity.selectors import (
    conversion_order_get_by_reference,
    conversion_orders_unsettled,
    venue_get_active,
)
from ramps.liquidity.services import conversion_order_create


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
