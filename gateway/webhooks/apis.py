"""Partner API for webhooks: endpoints (self-service), their deliveries, and the event feed."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.common.problems import NotFoundError
from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.selectors import (
    webhook_deliveries_list,
    webhook_delivery_get,
    webhook_endpoint_get_for_partner,
    webhook_endpoints_for_partner,
    webhook_events_feed,
)
from gateway.webhooks.serializers import (
    DeliveryPageSerializer,
    DeliverySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EventPageSerializer,
    RedeliverFailedSerializer,
    RotateSecretSerializer,
)
from gateway.webhooks.services import (
    webhook_deliveries_redeliver_failed,
    webhook_delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_ping,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_update,
)

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")
TAGS = ["webhooks"]


def _endpoint(request: Request, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_get_for_partner(partner=request.partner, public_id=endpoint_id)
    if endpoint is None:
        raise NotFoundError(f"Webhook endpoint {endpoint_id} does not exist.")
    return endpoint


def _delivery(endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = webhook_delivery_get(endpoint=endpoint, message_id=delivery_id)
    if delivery is None:
        raise NotFoundError(f"Delivery {delivery_id} does not exist for this endpoint.")
    return delivery


ENDPOINT_RULES = (
    "Rules beyond the schema: 422 webhook-endpoint-invalid when the url is not an absolute https "
    "URL (http is allowed only where WEBHOOK_REQUIRE_HTTPS is off), resolves to a private, "
    "loopback or link-local address, an event type is unknown, or the account already has "
    "WEBHOOK_MAX_ENDPOINTS_PER_PARTNER endpoints.")
CURSOR = {"type": "string", "pattern": "^[0-9]{1,18}$"}


def _limit(maximum: int) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": maximum}


def _positive_int(value: str | None, *, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    if value == "":
        raise serializers.ValidationError({name: ["Give a value or leave the parameter out."]})
    try:
        number = int(value)
    except ValueError:
        raise serializers.ValidationError({name: ["Must be an integer."]}) from None
    if not 0 <= number <= maximum:
        raise serializers.ValidationError({name: [f"Must be between 0 and {maximum}."]})
    return number


class EndpointListApi(APIView):
    @extend_schema(responses={200: EndpointSerializer(many=True), 401: PROBLEM},
                   summary="List webhook endpoints", tags=TAGS)
    def get(self, request: Request) -> Response:
        endpoints = webhook_endpoints_for_partner(partner=request.partner)
        return Response(EndpointSerializer(endpoints, many=True).data)

    @extend_schema(request=EndpointCreateSerializer,
                   responses={201: EndpointWithSecretSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM},
                   summary="Add a webhook endpoint (the answer shows its secret, once)",
                   description=ENDPOINT_RULES, tags=TAGS)
    def post(self, request: Request) -> Response:
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = webhook_endpoint_create(
            partner=request.partner, url=data["url"], event_types=data.get("event_types"),
            description=data.get("description", ""), enabled=data["enabled"])
        return Response(EndpointWithSecretSerializer(endpoint).data,
                        status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    @extend_schema(responses={200: EndpointSerializer, 401: PROBLEM, 404: PROBLEM},
                   summary="Show a webhook endpoint", tags=TAGS)
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(request=EndpointUpdateSerializer,
                   responses={200: EndpointSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM,
                              422: PROBLEM},
                   summary="Change a webhook endpoint (url, event types, enabled)",
                   description=ENDPOINT_RULES, tags=TAGS)
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = webhook_endpoint_update(
            endpoint=endpoint, url=data.get("url"), event_types=data.get("event_types"),
            description=data.get("description"), enabled=data.get("enabled"))
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None, 401: PROBLEM, 404: PROBLEM},
                   summary="Remove a webhook endpoint", tags=TAGS)
    def delete(self, request: Request, endpoint_id: str) -> Response:
        webhook_endpoint_delete(endpoint=_endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(APIView):
    @extend_schema(request=RotateSecretSerializer,
                   responses={200: EndpointWithSecretSerializer, 400: PROBLEM, 401: PROBLEM,
                              404: PROBLEM, 422: PROBLEM},
                   summary="Issue a new secret; the old one also signs for a grace period",
                   tags=TAGS)
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        serializer = RotateSecretSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_secret_rotate(
            endpoint=endpoint, grace_seconds=serializer.validated_data.get("grace_period_seconds"))
        return Response(EndpointWithSecretSerializer(endpoint).data)


class EndpointTestApi(APIView):
    @extend_schema(request=None,
                   responses={202: DeliverySerializer, 401: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Send a webhook.ping event to this endpoint", tags=TAGS)
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery = webhook_endpoint_ping(endpoint=_endpoint(request, endpoint_id))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=WebhookDelivery.Status.values),
            OpenApiParameter("event_type", OpenApiTypes.STR),
            OpenApiParameter("transfer_id", OpenApiTypes.UUID),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Created at or after"),
            OpenApiParameter("before", CURSOR, description="Cursor: older than this"),
            OpenApiParameter("limit", _limit(200), description="At most 200 (default 50)"),
        ],
        responses={200: DeliveryPageSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM},
        summary="Deliveries to an endpoint, newest first, with their last answer", tags=TAGS)
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        params = request.query_params
        status_filter = params.get("status") or None
        if status_filter and status_filter not in WebhookDelivery.Status.values:
            raise serializers.ValidationError(
                {"status": [f"One of {', '.join(WebhookDelivery.Status.values)}."]})
        since = None
        if params.get("since"):
            since = serializers.DateTimeField().to_internal_value(params["since"])
        deliveries, more = webhook_deliveries_list(
            endpoint=endpoint, status=status_filter, event_type=params.get("event_type") or None,
            transfer_id=params.get("transfer_id") or None, since=since,
            before=_positive_int(params.get("before"), name="before", default=0,
                                 maximum=2**62) or None,
            limit=_positive_int(params.get("limit"), name="limit", default=50, maximum=200) or 50)
        return Response({"data": DeliverySerializer(deliveries, many=True).data,
                         "next_cursor": str(deliveries[-1].pk) if more else None})


class DeliveryRedeliverApi(APIView):
    @extend_schema(request=None,
                   responses={202: DeliverySerializer, 401: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Send a delivery again now (same webhook-id)", tags=TAGS)
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        delivery = _delivery(_endpoint(request, endpoint_id), delivery_id)
        delivery = webhook_delivery_redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryRedeliverFailedApi(APIView):
    @extend_schema(request=RedeliverFailedSerializer,
                   responses={202: OpenApiTypes.OBJECT, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM},
                   summary="Send again every failed delivery since a moment", tags=TAGS)
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        serializer = RedeliverFailedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = webhook_deliveries_redeliver_failed(
            endpoint=endpoint, since=serializer.validated_data["since"])
        return Response({"redelivering": count}, status=status.HTTP_202_ACCEPTED)


class EventFeedApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", CURSOR,
                             description="Cursor (next_cursor of the previous page; 0 or absent "
                                         "for the oldest kept)"),
            OpenApiParameter("type", OpenApiTypes.STR, description="Only this event type"),
            OpenApiParameter("limit", _limit(500), description="At most 500 (default 100)"),
        ],
        responses={200: EventPageSerializer, 400: PROBLEM, 401: PROBLEM, 410: PROBLEM},
        summary="Events in the order they happened, to page through after an outage",
        description="The same events the webhooks carry, kept for "
                    f"{settings.WEBHOOK_EVENT_RETENTION_DAYS} days (WEBHOOK_EVENT_RETENTION_DAYS)."
                    " A cursor older than that answers 410 cursor-expired.",
        tags=TAGS)
    def get(self, request: Request) -> Response:
        params = request.query_params
        after = _positive_int(params.get("after"), name="after", default=0, maximum=2**62)
        limit = _positive_int(params.get("limit"), name="limit", default=100, maximum=500) or 100
        events, more = webhook_events_feed(partner=request.partner, after=after, limit=limit,
                                           event_type=params.get("type") or None)
        next_cursor = events[-1].position if events else after
        return Response({"data": [event.payload for event in events],
                         "next_cursor": str(next_cursor), "has_more": more})
