"""Partner API: check travel-rule data before creating a transfer."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.monitoring.travel_rule import travel_rule_validate

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,22}(\.[0-9]{1,2})?$"})
class UsdAmountField(serializers.DecimalField):
    """A USD amount, documented as the decimal string it is sent as (no sign, 2 decimals)."""


@extend_schema_field({"type": "object", "additionalProperties": {}})
class IvmsObjectField(serializers.JSONField):
    """An IVMS101 object; anything else is listed by the validator with its JSON pointer."""


class TravelRuleRequestSerializer(serializers.Serializer):
    amount_usd = UsdAmountField(max_digits=24, decimal_places=2, min_value=0,
                                help_text="USD equivalent of the transfer")
    originator = IvmsObjectField(help_text="IVMS101 Originator")
    beneficiary = IvmsObjectField(help_text="IVMS101 Beneficiary")


class TravelRuleResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    required = serializers.ChoiceField(choices=["full", "basic"])
    threshold_usd = serializers.DecimalField(max_digits=24, decimal_places=2)


class TravelRuleValidateApi(APIView):
    @extend_schema(request=TravelRuleRequestSerializer,
                   responses={200: TravelRuleResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM},
                   summary="Validate IVMS101 travel-rule data", tags=["travel rule"],
                   description="Rules beyond the schema: travel-rule-data-invalid (422) listing "
                               "every IVMS101 element that is missing or invalid for the "
                               "amount (complete identity data at or above the threshold).")
    def post(self, request: Request) -> Response:
        serializer = TravelRuleRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = travel_rule_validate(amount_usd=data["amount_usd"],
                                      originator=data["originator"],
                                      beneficiary=data["beneficiary"])
        return Response(TravelRuleResponseSerializer(
            {"valid": True, "required": result.required,
             "threshold_usd": result.threshold_usd}).data)
