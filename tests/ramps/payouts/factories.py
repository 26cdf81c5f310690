"""Test data for ramps.payouts: rails (nothing listens at their address)."""

import uuid
from decimal import Decimal

from ramps.payouts.models import Rail


def make_rail(**overrides) -> Rail:
    """An M-Pesa B2C rail paying KES in Kenya, 10 to 250,000 KES a payout."""
    defaults = {"code": f"mpesa-{uuid.uuid4().hex[:6]}", "kind": Rail.Kind.MPESA_B2C,
                "country": "KE", "currency": "KES", "base_url": "http://127.0.0.1:1",
                "credentials": {}, "min_amount": Decimal("10"), "max_amount": Decimal("250000")}
    return Rail.objects.create(**{**defaults, **overrides})
