"""Shapes of the webhook API and of the events themselves (documented in the OpenAPI schema)."""

from rest_framework import serializers

from gateway.webhooks.models import WebhookDelivery


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="https URL of the receiver")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=60, min_length=1, trim_whitespace=False),
        required=False, max_length=50,
        help_text="Event types to receive; empty or absent means every type")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=60, min_length=1,
                                                                   trim_whitespace=False),
                                        required=False, max_length=50)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField(source="is_active")
    disabled_reason = serializers.CharField(
        help_text="Why the gateway disabled the endpoint (410 Gone, or failing too long)")
    disabled_at = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then the previous secret also signs")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="Standard Webhooks signing secret; shown only in this answer")


class RotateSecretSerializer(serializers.Serializer):
    grace_period_seconds = serializers.IntegerField(
        required=False, min_value=0,
        help_text="How long the current secret keeps signing (default one day)")


class RedeliverFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Failed deliveries created at or after this")


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField(source="message_id", help_text="The webhook-id header")
    event_id = serializers.SerializerMethodField()
    event_type = serializers.CharField()
    sequence = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next attempt is due (pending only)")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    cursor = serializers.SerializerMethodField()

    def get_event_id(self, delivery: WebhookDelivery) -> str:
        return delivery.event.payload.get("id", "")

    def get_cursor(self, delivery: WebhookDelivery) -> str:
        return str(delivery.pk)

    def to_representation(self, delivery: WebhookDelivery) -> dict:
        data = super().to_representation(delivery)
        if delivery.status != WebhookDelivery.Status.PENDING:
            data["next_attempt_at"] = None
        return data


class DeliveryPageSerializer(serializers.Serializer):
    data = DeliverySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True,
                                        help_text="Pass as before= for the next (older) page")


class EventEnvelopeSerializer(serializers.Serializer):
    """What a receiver gets in the body (and the feed lists): Standard Webhooks' type, timestamp
    and data, with the event id and, for a transfer, its sequence."""

    id = serializers.CharField(help_text="Event id (evt_...), the same for every endpoint")
    type = serializers.CharField(help_text="Event type, e.g. transfer.completed")
    timestamp = serializers.DateTimeField()
    sequence = serializers.IntegerField(
        required=False,
        help_text="Per transfer, increasing with every change: drop an event whose sequence is "
                  "lower than one already processed for the transfer")


class PingEventDataSerializer(serializers.Serializer):
    endpoint_id = serializers.UUIDField()
    message = serializers.CharField()


class PingEventSerializer(EventEnvelopeSerializer):
    data = PingEventDataSerializer()


class EndpointDisabledDataSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The endpoint disabled")
    url = serializers.CharField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField()


class EndpointDisabledEventSerializer(EventEnvelopeSerializer):
    data = EndpointDisabledDataSerializer()


class EventPageSerializer(serializers.Serializer):
    data = serializers.ListField(child=serializers.DictField(),
                                 help_text="Event envelopes, oldest first")
    next_cursor = serializers.CharField(help_text="Pass as after= to read on")
    has_more = serializers.BooleanField()
