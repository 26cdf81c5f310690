"""Reads of the liquidity app."""

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .models import ConversionOrder, LiquidityReservation, Venue


def venue_get_active(*, name: str | None = None) -> Venue | None:
    """The named active venue, or the first active one by name when no name is given."""
    venues = Venue.objects.filter(is_active=True)
    if name is not None:
        venues = venues.filter(name=name)
    return venues.order_by("name").first()


def conversion_order_get_by_reference(*, reference: str) -> ConversionOrder | None:
    return ConversionOrder.objects.select_related("venue").filter(reference=reference).first()


def conversion_orders_unsettled(*, older_than_seconds: float = 0) -> QuerySet[ConversionOrder]:
    """Orders whose outcome is still to be learnt from the venue (unknown or open), untouched
    for at least ``older_than_seconds``: what a periodic task hands to
    ``conversion_order_refresh``."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    return ConversionOrder.objects.filter(
        status__in=[ConversionOrder.Status.UNKNOWN, ConversionOrder.Status.OPEN],
        updated_at__lte=cutoff,
    ).order_by("updated_at")


def venues_active() -> QuerySet[Venue]:
    """Every active venue (best execution prices the size at each)."""
    return Venue.objects.filter(is_active=True)


def liquidity_reservation_exists(*, quote_reference: str) -> bool:
    """Whether depth was reserved for the quote (whatever the reservation's state)."""
    return LiquidityReservation.objects.filter(quote_reference=quote_reference).exists()


def conversion_orders_with_reference_prefix(*, prefix: str) -> QuerySet[ConversionOrder]:
    """Orders whose reference starts with ``prefix`` (a transfer's reference: its first order
    has it, each later one adds ``:n``), with their venue, oldest first."""
    return (ConversionOrder.objects.filter(reference__startswith=prefix)
            .select_related("venue").order_by("id"))
