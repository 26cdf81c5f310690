"""Partner API shapes of customers (SEP-12 style). Personal values are never sent back."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.kyc.models import Customer, CustomerDocument


@extend_schema_field({"type": "string", "maxLength": 500})
class FieldValue(serializers.CharField):
    """One SEP-12 field value: a JSON string (numbers are not taken as text)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return super().to_internal_value(data)


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
    fields = serializers.DictField(child=FieldValue(allow_blank=True), default=dict,
                                   help_text="SEP-12 field names and values")


class CustomerPutResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class CustomerQuerySerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    external_id = serializers.CharField(max_length=120, required=False)
    type = serializers.ChoiceField(choices=sorted(ROLE_ALIASES), required=False)

    def to_internal_value(self, data):
        blank = {name: ["Give a value or leave the parameter out."]
                 for name in self.fields if name in data and data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    def validate(self, attrs):
        if "id" not in attrs and not ("external_id" in attrs and "type" in attrs):
            raise serializers.ValidationError("Give id, or external_id and type.")
        return attrs


class CustomerDocumentSerializer(serializers.Serializer):
    """A document as the partner sees it: what it is and its review, never its bytes."""

    id = serializers.UUIDField(source="public_id")
    kind = serializers.ChoiceField(choices=CustomerDocument.Kind.values)
    content_type = serializers.CharField(help_text="Detected from the content")
    size_bytes = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CustomerDocument.Status.values,
                                     help_text="Review: processing, accepted or rejected")
    status_message = serializers.CharField(allow_blank=True)
    erased = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_erased(self, document: CustomerDocument) -> bool:
        return document.erased_at is not None


class CustomerDocumentUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CustomerDocument.Kind.values,
                                   help_text="SEP-12 name of the document")
    file = serializers.FileField(
        allow_empty_file=True, use_url=False,
        help_text="JPEG, PNG or PDF (judged by its content), at most KYC_DOCUMENT_MAX_BYTES")


class ErasedItemSerializer(serializers.Serializer):
    item = serializers.CharField(help_text="fields.<name> or documents.<id>")
    reason = serializers.CharField(help_text="Why it is kept: legal_obligation")
    retained_until = serializers.DateTimeField(
        allow_null=True, help_text="When it is erased in turn (null: when the obligation ends)")


class CustomerErasureSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    customer_id = serializers.UUIDField(source="customer.public_id")
    requested_at = serializers.DateTimeField(source="created_at")
    erased = serializers.ListField(child=serializers.CharField(),
                                   help_text="What was erased: fields.<name>, documents.<id>")
    kept = ErasedItemSerializer(many=True, help_text="What the law makes the gateway keep")
    completed_at = serializers.DateTimeField(
        allow_null=True, help_text="When everything was erased (null while something is kept)")


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
    documents = CustomerDocumentSerializer(many=True, help_text="Uploaded documents and their "
                                                                "review")
    erased_at = serializers.DateTimeField(allow_null=True,
                                          help_text="When its erasure was asked (else null)")
