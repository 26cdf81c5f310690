"""Which implementation of ``PayoutRail`` pays through a rail: one entry per kind of rail.

A ``Rail`` row names its kind (``Rail.Kind``); cash pickup at agents has its rules per corridor
(``CashPickupCorridor``) and is the kind ``cash_pickup``. Adding a rail is a package with its
client and a ``PayoutRail`` class, an entry here (or in ``PAYOUT_RAILS`` in settings) and a row.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from ramps.payouts.models import Rail
    from ramps.payouts.rails import PayoutRail

CASH_PICKUP = "cash_pickup"

RAIL_IMPLEMENTATIONS: dict[str, str] = {
    "mpesa_b2c": "ramps.payouts.mpesa.rail.MpesaRail",
    "momo_disbursement": "ramps.payouts.momo.rail.MomoRail",
    CASH_PICKUP: "ramps.payouts.agents.rail.CashPickupRail",
}


class UnknownRailKindError(ValueError):
    pass


@functools.cache
def _implementation(path: str) -> type:
    return import_string(path)


def payout_rail_class(kind: str) -> type:
    paths = {**RAIL_IMPLEMENTATIONS, **getattr(settings, "PAYOUT_RAILS", {})}
    if kind not in paths:
        raise UnknownRailKindError(f"No payout rail implements the kind {kind!r}.")
    return _implementation(paths[kind])


def payout_rail(rail: Rail | None = None, *, kind: str = "") -> PayoutRail:
    """The rail's implementation: for a ``Rail`` row, by its kind; for a rail without a row
    (cash pickup), by ``kind``."""
    if rail is not None:
        return payout_rail_class(rail.kind)(rail)
    return payout_rail_class(kind)()
