"""The events a partner's endpoint receives, for the OpenAPI schema's ``webhooks`` section
(``SPECTACULAR_SETTINGS["WEBHOOKS"]`` names the objects below; the transfer events are described
by their owner, ``gateway.transfers.webhook_schema``)."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from drf_spectacular.utils import OpenApiWebhook as Webhook

from gateway.webhooks.serializers import EndpointDisabledEventSerializer, PingEventSerializer
from gateway.webhooks.services.events import ENDPOINT_DISABLED, PING

HEADERS = (
    "Sent as an HTTP POST with the Standard Webhooks headers: `webhook-id` (the same on every "
    "retry: use it to drop duplicates), `webhook-timestamp` (Unix seconds) and "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256>`; during a secret rotation two signatures "
    "separated by a space, either of which may match). Verify with any Standard Webhooks "
    "library and the endpoint's secret. Answer 2xx within the timeout; any other answer is "
    "retried on an exponential schedule over about a day; 410 Gone disables the endpoint."
)
RECEIVED = {200: OpenApiResponse(description="Received (any 2xx)"),
            410: OpenApiResponse(description="Gone: the gateway disables the endpoint")}

ping = Webhook(
    name=PING,
    decorator=extend_schema(
        summary="Test event",
        description="Sent by `POST /api/v1/webhook-endpoints/{id}/test` to that endpoint only "
                    "(whatever its event types). " + HEADERS,
        request=PingEventSerializer, responses=RECEIVED,
        examples=[OpenApiExample(PING, value={
            "id": "evt_0b6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d", "type": PING,
            "timestamp": "2026-12-02T10:00:00Z",
            "data": {"endpoint_id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
                     "message": "Test event sent on the partner's request."}})],
    ),
)

endpoint_disabled = Webhook(
    name=ENDPOINT_DISABLED,
    decorator=extend_schema(
        summary="One of the partner's endpoints was disabled",
        description="The gateway disabled an endpoint (it answered 410 Gone, or no attempt has "
                    "succeeded for days). Sent to the partner's other endpoints and kept in "
                    "`GET /api/v1/events`. Enable it again with `PATCH` once it works. " + HEADERS,
        request=EndpointDisabledEventSerializer, responses=RECEIVED,
        examples=[OpenApiExample(ENDPOINT_DISABLED, value={
            "id": "evt_9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49", "type": ENDPOINT_DISABLED,
            "timestamp": "2026-12-05T10:00:00Z",
            "data": {"id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
                     "url": "https://hooks.example.com/offramp",
                     "disabled_reason": "No successful delivery since 2026-12-02T10:00:00+00:00 "
                                        "(last: 503 upstream unavailable).",
                     "disabled_at": "2026-12-05T10:00:00Z"}})],
    ),
)
