"""Reads of transfers for the API and the admin."""

import uuid

from gateway.partners.models import Partner
from gateway.transfers.models import Transfer


def transfer_get_for_partner(*, partner: Partner, public_id: str) -> Transfer | None:
    try:
        public_uuid = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return (
        Transfer.objects.select_related("corridor__token__chain", "deposit_address", "quote")
        .prefetch_related("events")
        .filter(partner=partner, public_id=public_uuid)
        .first()
    )
