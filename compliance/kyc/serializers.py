"""Partner API shapes of customers (SEP-12 style). Personal values are never sent back."""

from rest_framework import serializers

from compliance.kyc.models import Customer

ROLE_ALIASES = {"sender": "sender", "sep31-sender": "sender",
                "recipient": "recipient", "receiver": "recipient", "sep31-receiver": "recipient"}


class CustomerPutSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="The customer id returned earlier")
    external_id = serializers.CharField(max_length=120,
                                        help_text="The partner's own customer reference")
    type = serializers.ChoiceField(choices=sorted(ROLE_ALIASES),
                                   help_text="sender or recipient (sep31-* aliases accepted)")
    kind = serializers.ChoiceField(choices=Customer.Kind.values,
                                   default=Customer.Kind.NATURAL_PERSON)
    tier = serializers.SlugField(max_length=40, help_text="KYC tier code to qualify for")
    fields = serializers.DictField(child=serializers.JSONField(), default=dict,
                                   help_text="SEP-12 field names and values")


class CustomerPutResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class CustomerQuerySerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    external_id = serializers.CharField(max_length=120, required=False)
    type = serializers.ChoiceField(choices=sorted(ROLE_ALIASES), required=False)

    def validate(self, attrs):
        if "id" not in attrs and not ("external_id" in attrs and "type" in attrs):
            raise serializers.ValidationError("Give id, or external_id and type.")
        return attrs


class CustomerResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_id = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.CharField()
    tier = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(help_text="Fields still missing for the tier")
    provided_fields = serializers.DictField(help_text="Fields on record (status only)")
