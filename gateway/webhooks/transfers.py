"""The transfer as events carry it: exactly what ``GET /api/v1/transfers/{id}`` answers.

The API's own selector and serializer are called (not copied), so an event and the API never
disagree about a transfer; the result goes through JSON once so that it is stored as sent.
"""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def transfer_representation(*, transfer_id: int) -> dict[str, Any]:
    from gateway.transfers.models import Transfer
    from gateway.transfers.selectors import transfer_get_for_partner
    from gateway.transfers.serializers import TransferResponseSerializer

    transfer = Transfer.objects.select_related("partner").get(pk=transfer_id)
    shown = transfer_get_for_partner(partner=transfer.partner, public_id=str(transfer.public_id))
    return json.loads(json.dumps(TransferResponseSerializer(shown).data, cls=DjangoJSONEncoder))
