"""Request and response shapes of saved recipients."""

from rest_framework import serializers

from gateway.recipients.models import Recipient


class RecipientCreateSerializer(serializers.Serializer):
    corridor = serializers.CharField(max_length=80,
                                     help_text="Corridor code (GET /api/v1/info) it is paid on")
    name = serializers.CharField(max_length=200)
    phone_number = serializers.CharField(max_length=32, help_text="E.164 mobile-money number")
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False,
                                     help_text="ISO 3166-1 alpha-2")


class RecipientSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    corridor = serializers.CharField(source="corridor.code")
    name = serializers.SerializerMethodField()
    phone_number = serializers.SerializerMethodField()
    country = serializers.SerializerMethodField()
    verification = serializers.ChoiceField(
        choices=Recipient.Verification.values,
        help_text="verified: the rail confirmed the account; cannot_verify: the rail has no "
                  "check or did not answer (transfers allowed); mismatch: the rail said no "
                  "(transfers refused)")
    verified_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_name(self, recipient: Recipient) -> str:
        return recipient.details.get("name", "")

    def get_phone_number(self, recipient: Recipient) -> str:
        return recipient.details.get("phone_number", "")

    def get_country(self, recipient: Recipient) -> str | None:
        return recipient.details.get("country")


class RecipientPageSerializer(serializers.Serializer):
    results = RecipientSerializer(many=True)



