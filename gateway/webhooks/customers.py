"""Customer events: the partner hears when a customer's or a document's review status changes.

``compliance.kyc`` calls ``customer_status_event`` through ``KYC_STATUS_HOOK`` in the same
transaction as the change (compliance never imports the gateway), and the event carries the
customer exactly as ``GET /api/v1/customers?id=`` shows it: statuses and field names, never
personal values.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder

CUSTOMER_STATUS_CHANGED = "customer.status_changed"
CUSTOMER_DOCUMENT_REVIEWED = "customer.document_reviewed"
CUSTOMER_EVENT_TYPES = (CUSTOMER_STATUS_CHANGED, CUSTOMER_DOCUMENT_REVIEWED)


def customer_status_event(*, customer_id: int, document_id: int | None = None) -> list[int]:
    from compliance.kyc.apis import customer_body
    from compliance.kyc.selectors import (
        customer_document_get_without_content,
        customer_get_with_tier,
    )
    from compliance.kyc.serializers import CustomerDocumentSerializer, CustomerResponseSerializer
    from gateway.webhooks.services.events import webhook_event_enqueue

    customer = customer_get_with_tier(customer_id=customer_id)
    data = json.loads(json.dumps(CustomerResponseSerializer(customer_body(customer)).data,
                                 cls=DjangoJSONEncoder))
    event_type = CUSTOMER_STATUS_CHANGED
    if document_id is not None:
        document = customer_document_get_without_content(document_id=document_id)
        data = {"customer": data, "document": json.loads(json.dumps(
            CustomerDocumentSerializer(document).data, cls=DjangoJSONEncoder))}
        event_type = CUSTOMER_DOCUMENT_REVIEWED
    return webhook_event_enqueue(partner_id=customer.partner_id, event_type=event_type,
                                 data=data)
