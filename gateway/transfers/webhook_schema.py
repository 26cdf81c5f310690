"""The transfer events a partner's endpoint receives, for the OpenAPI schema's ``webhooks``
section (``SPECTACULAR_SETTINGS["WEBHOOKS"]`` names ``transfer_event``): the envelope, headers
and event types are the webhooks app's, ``data`` is the transfer as the API shows it."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from drf_spectacular.utils import OpenApiWebhook as Webhook

from gateway.transfers.serializers import TransferResponseSerializer
from gateway.webhooks.schema import HEADERS, RECEIVED
from gateway.webhooks.serializers import EventEnvelopeSerializer
from gateway.webhooks.services import TRANSFER_CREATED, event_types


class TransferEventSerializer(EventEnvelopeSerializer):
    data = TransferResponseSerializer(help_text="The transfer as GET /api/v1/transfers/{id}")


_ASSET = "eip155:137/erc20:0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"
_TRANSFER = {
    "id": "7d0a3c0e-4b9f-4f0a-9a55-2b6f5c1e8d21", "status": "completed", "state": "completed",
    "external_id": "order-1042", "quote_id": "a3c5c0f2-8f0e-4d59-8d3b-1f4f6d7e9a10",
    "amount_in": "100.00", "amount_in_asset": _ASSET,
    "amount_fee": "1.00", "amount_out": "12700", "amount_out_currency": "KES",
    "rate": "128.282828282828",
    "deposit": {"chain": "eip155:137",
                "asset": _ASSET,
                "address": "0x9858EfFD232B4033E47d90003D41EC34EcaEda94", "amount": "100.00",
                "amount_base_units": "100000000", "expires_at": "2026-12-02T11:00:00Z"},
    "hold_reason": "", "cash_pickup": None,
    "timeline": [{"state": "awaiting_deposit", "at": "2026-12-02T10:00:00Z",
                  "reason": "transfer created"},
                 {"state": "completed", "at": "2026-12-02T10:04:12Z",
                  "reason": "rail confirmed the payment"}],
    "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:04:12Z",
}


def _transfer_example(event_type: str, sequence: int, status: str, state: str) -> dict:
    return {"id": "evt_5f1c9b1e0c7d4d8f9a2b3c4d5e6f7a8b", "type": event_type,
            "timestamp": "2026-12-02T10:04:12.418Z", "sequence": sequence,
            "data": {**_TRANSFER, "status": status, "state": state}}


transfer_event = Webhook(
    name="transfer",
    decorator=extend_schema(
        summary="A transfer changed",
        description=(
            "One event per change of a transfer, typed after the state it moved to: "
            + ", ".join(f"`{name}`" for name in event_types() if name.startswith("transfer."))
            + f". `{TRANSFER_CREATED}` comes first. `data` is the whole transfer exactly as "
            "`GET /api/v1/transfers/{id}` returns it; `sequence` grows by one with every event "
            "of the transfer, so an event with a lower sequence than one already processed is "
            "stale. Events of one transfer reach an endpoint in sequence order unless an "
            "earlier one has been failing for several minutes. " + HEADERS),
        request=TransferEventSerializer,
        responses=RECEIVED,
        examples=[
            OpenApiExample("transfer.created", value=_transfer_example(
                TRANSFER_CREATED, 1, "pending_sender", "awaiting_deposit")),
            OpenApiExample("transfer.funded", value=_transfer_example(
                "transfer.funded", 3, "pending_receiver", "funded")),
            OpenApiExample("transfer.on_hold", value=_transfer_example(
                "transfer.on_hold", 4, "on_hold", "on_hold")),
            OpenApiExample("transfer.completed", value=_transfer_example(
                "transfer.completed", 7, "completed", "completed")),
            OpenApiExample("transfer.payout_failed", value=_transfer_example(
                "transfer.payout_failed", 6, "pending_transaction_info_update",
                "payout_failed")),
            OpenApiExample("transfer.refunded", value=_transfer_example(
                "transfer.refunded", 9, "refunded", "refunded")),
        ],
    ),
)
