"""Test data for ramps.liquidity: venues (nothing listens at their address)."""

import uuid

from ramps.liquidity.models import Venue


def make_venue(**overrides) -> Venue:
    defaults = {"name": f"venue-{uuid.uuid4().hex[:6]}", "exchange_id": "luno",
                "api_base_url": "http://127.0.0.1:1", "api_key": "k", "api_secret": "s"}
    return Venue.objects.create(**{**defaults, **overrides})
