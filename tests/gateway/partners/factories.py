"""Test data for gateway.partners: partners with an API key."""

import uuid

from rest_framework.test import APIClient

from gateway.partners.models import Partner
from gateway.partners.services import partner_api_key_create


def make_partner(name: str | None = None) -> tuple[Partner, str]:
    """A partner and its API key (the only time the key is shown)."""
    partner = Partner.objects.create(name=name or f"partner-{uuid.uuid4().hex[:8]}")
    _, key = partner_api_key_create(partner=partner, name="test")
    return partner, key


def make_partner_client(name: str | None = None) -> APIClient:
    """An API client signed with a new partner's key; the partner is ``client.partner``."""
    partner, key = make_partner(name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.partner = partner
    return client
