"""Partner API for customers, SEP-12 style: PUT to submit, GET to see status and missing fields."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.kyc.models import Customer
from compliance.kyc.selectors import customer_get_for_partner
from compliance.kyc.serializers import (
    ROLE_ALIASES,
    CustomerPutResponseSerializer,
    CustomerPutSerializer,
    CustomerQuerySerializer,
    CustomerResponseSerializer,
)
from compliance.kyc.services import (
    customer_field_descriptions,
    customer_missing_fields,
    customer_put,
)
from gateway.common.problems import NotFoundError

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")
_FIELD_STATUS = {Customer.Status.ACCEPTED: "ACCEPTED", Customer.Status.REJECTED: "REJECTED"}


def customer_body(customer: Customer) -> dict:
    missing = customer_missing_fields(customer=customer)
    provided = sorted(name for name, value in customer.fields.items() if value)
    return {
        "id": customer.public_id, "external_id": customer.external_id, "type": customer.role,
        "kind": customer.kind, "tier": customer.tier.code, "status": customer.status,
        "message": customer.status_message,
        "fields": customer_field_descriptions(kind=customer.kind, names=missing),
        "provided_fields": {
            name: {**customer_field_descriptions(kind=customer.kind, names=[name])[name],
                   "status": _FIELD_STATUS.get(customer.status, "PROCESSING")}
            for name in provided
        },
        "documents": list(customer.documents.defer("content").order_by("created_at", "pk")),
        "erased_at": customer.erased_at,
    }


class CustomerApi(APIView):
    @extend_schema(request=CustomerPutSerializer,
                   responses={202: CustomerPutResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Submit or update a customer's KYC fields", tags=["customers"],
                   description="Rules beyond the schema: unknown-kyc-tier (422) for a tier that "
                               "does not exist (GET /info lists them); customer-fields-invalid "
                               "(400) for a field name unknown for the customer's kind or a "
                               "value invalid for it (identity numbers are checked for the "
                               "issuing country and document type). 409 when id, type and "
                               "external_id name different customers, the kind changes, or the "
                               "customer was rejected.")
    def put(self, request: Request) -> Response:
        serializer = CustomerPutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = customer_put(
            partner=request.partner, role=ROLE_ALIASES[data["type"]], kind=data["kind"],
            external_id=data["external_id"], tier_code=data["tier"], fields=data["fields"],
            customer_id=str(data["id"]) if "id" in data else None,
        )
        return Response(CustomerPutResponseSerializer(
            {"id": customer.public_id, "status": customer.status}).data,
            status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[CustomerQuerySerializer],
                   responses={200: CustomerResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              404: PROBLEM},
                   summary="A customer's KYC status and missing fields", tags=["customers"],
                   description="Rules beyond the schema: validation-error (400) with "
                               "non_field_errors unless id, or both external_id and type, are "
                               "given.")
    def get(self, request: Request) -> Response:
        query = CustomerQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        customer = customer_get_for_partner(
            partner=request.partner, customer_id=str(data.get("id", "")),
            role=ROLE_ALIASES.get(data.get("type", ""), ""),
            external_id=data.get("external_id", ""))
        if customer is None:
            raise NotFoundError("No such customer.")
        return Response(CustomerResponseSerializer(customer_body(customer)).data)
