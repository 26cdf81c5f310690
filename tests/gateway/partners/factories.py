"""Test data for gateway.partners: partners with an API key."""

import uuid

from gateway.partners.models import Partner
from gateway.partners.services import partner_api_key_create


def make_partner(name: str | None = None) -> tuple[Partner, str]:
    """A partner and its API key (the only time the key is shown)."""
    partner = Partner.objects.create(name=name or f"partner-{uuid.uuid4().hex[:8]}")
    _, key = partner_api_key_create(partner=partner, name="test")
    return partner, key
