"""Partners and their keys."""

from gateway.partners.models import Partner, PartnerAPIKey


def partner_api_key_create(*, partner: Partner, name: str) -> tuple[PartnerAPIKey, str]:
    """Create a key; the clear-text key is returned once and never stored."""
    return PartnerAPIKey.objects.create_key(name=name, partner=partner)
