"""Reads of saved recipients."""

import uuid

from django.db.models import QuerySet

from gateway.partners.models import Partner
from gateway.recipients.models import Recipient


def recipient_get_for_partner(*, partner: Partner, public_id: str) -> Recipient | None:
    try:
        public_uuid = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return (Recipient.objects.select_related("corridor")
            .filter(partner=partner, public_id=public_uuid).first())


def recipient_list(*, partner: Partner) -> QuerySet[Recipient]:
    return (Recipient.objects.select_related("corridor").filter(partner=partner)
            .order_by("-created_at", "-public_id"))
