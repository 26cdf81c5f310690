"""Partner API: check travel-rule data before creating a transfer."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.monitoring.travel_rule import travel_rule_validate

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")


class TravelRuleRequestSerializer(serializers.Serializer):
    amount_usd = serializers.DecimalField(max_digits=24, decimal_places=2, min_value=0,
                                          help_text="USD equivalent of the transfer")
    originator = serializers.JSONField(help_text="IVMS101 Originator")
    beneficiary = serializers.JSONField(help_text="IVMS101 Beneficiary")


class TravelRuleResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    required = serializers.ChoiceField(choices=["full", "basic"])
    threshold_usd = serializers.DecimalField(max_digits=24, decimal_places=2)


class TravelRuleValidateApi(APIView):
    @extend_schema(request=TravelRuleRequestSerializer,
                   responses={200: TravelRuleResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM},
                   summary="Validate IVMS101 travel-rule data", tags=["travel rule"])
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
