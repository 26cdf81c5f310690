"""Reads of transfers for the API and the admin."""

from gateway.partners.models import Partner
from gateway.transfers.models import Transfer


def transfer_get_for_partner(*, partner: Partner, public_id: str) -> Transfer | None:
    try:
        return (
            Transfer.objects.select_related("corridor__token__chain", "deposit_address", "quote")
            .prefetch_related("events")
            .filter(partner=partner, public_id=public_id)
            .first()
        )
    except ValueError:  # not a UUID
        return None
