"""Partner API over its customers' personal data: KYC document uploads and erasure requests.

Views validate, call one ``compliance.kyc`` service or selector and serialize; the documents are
checked, encrypted and reviewed there. Every refusal is problem details; nothing is stored unless
the whole upload is taken.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.kyc.documents import DOCUMENT_TYPES, document_max_bytes
from compliance.kyc.selectors import (
    customer_document_get,
    customer_documents,
    customer_erasure_latest,
    customer_get_for_partner,
)
from compliance.kyc.serializers import (
    CustomerDocumentSerializer,
    CustomerDocumentUploadSerializer,
    CustomerErasureSerializer,
)
from compliance.kyc.services import customer_document_upload, customer_erase
from gateway.common.problems import NotFoundError

# Typed as the Problem schema by gateway.common.throttling_schema, like every API error.
PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")
TAGS = ["customers"]


def _customer(request: Request, customer_id: str):
    customer = customer_get_for_partner(partner=request.partner, customer_id=customer_id)
    if customer is None:
        raise NotFoundError(f"Customer {customer_id} does not exist.")
    return customer


class CustomerDocumentListCreateApi(APIView):
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": CustomerDocumentUploadSerializer},
        responses={201: CustomerDocumentSerializer, 200: CustomerDocumentSerializer,
                   400: PROBLEM, 401: PROBLEM, 404: PROBLEM, 409: PROBLEM, 413: PROBLEM,
                   415: PROBLEM, 422: PROBLEM},
        operation_id="customer_document_upload", summary="Upload a KYC document", tags=TAGS,
        description="multipart/form-data with kind and file. The file is judged by its content: "
                    f"{', '.join(kind.content_type for kind in DOCUMENT_TYPES)}, whole, at most "
                    f"{document_max_bytes()} bytes (KYC_DOCUMENT_MAX_BYTES). It is stored "
                    "encrypted and never sent back; its review status is shown here and in "
                    "GET /customers, and a customer.document_reviewed webhook event follows the "
                    "review. The same file again for the same kind answers 200 with the stored "
                    "document. Rules beyond the schema: document-rejected (422) for content "
                    "that is not a whole JPEG, PNG or PDF or that disagrees with the file's "
                    "name or declared type; document-too-large (413); customer-erased or "
                    "customer-rejected (409).",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        serializer = CustomerDocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        content = upload.read(document_max_bytes() + 1)
        document, created = customer_document_upload(
            partner=request.partner, customer_id=customer_id,
            kind=serializer.validated_data["kind"], content=content,
            filename=upload.name or "", declared_type=upload.content_type or "")
        return Response(CustomerDocumentSerializer(document).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: CustomerDocumentSerializer(many=True), 401: PROBLEM,
                              404: PROBLEM},
                   operation_id="customer_document_list",
                   summary="A customer's documents and their review", tags=TAGS)
    def get(self, request: Request, customer_id: str) -> Response:
        documents = customer_documents(customer=_customer(request, customer_id))
        return Response(CustomerDocumentSerializer(documents, many=True).data)


class CustomerDocumentDetailApi(APIView):
    @extend_schema(responses={200: CustomerDocumentSerializer, 401: PROBLEM, 404: PROBLEM},
                   operation_id="customer_document_retrieve",
                   summary="One document and its review", tags=TAGS)
    def get(self, request: Request, customer_id: str, document_id: str) -> Response:
        document = customer_document_get(customer=_customer(request, customer_id),
                                          document_id=document_id)
        if document is None:
            raise NotFoundError(f"Document {document_id} does not exist.")
        return Response(CustomerDocumentSerializer(document).data)


ERASURE_EXAMPLE = {
    "id": "0b3c1f7e-6a2d-4c41-9d0e-5f4a3b2c1d0e",
    "customer_id": "8f14e45f-ceea-467f-a0e6-3f2b1c0d9e8a",
    "requested_at": "2026-12-02T10:00:00.000000Z",
    "erased": ["fields.email_address", "fields.mobile_number"],
    "kept": [{"item": "fields.first_name", "reason": "legal_obligation",
              "retained_until": "2031-12-01T10:00:00.000000Z"}],
    "completed_at": None,
}


class CustomerErasureApi(APIView):
    @extend_schema(
        request=None,
        responses={200: CustomerErasureSerializer, 401: PROBLEM, 404: PROBLEM},
        examples=[OpenApiExample("Records kept for a while", value=ERASURE_EXAMPLE,
                                 response_only=True)],
        operation_id="customer_erase", summary="Erase a customer's personal data", tags=TAGS,
        description="A data subject's erasure request. Personal data that no legal obligation "
                    "keeps is erased at once (contact details, documents never reviewed; "
                    "everything for a customer never reviewed). Due-diligence records of a "
                    "reviewed customer are kept as the law requires (reason legal_obligation, "
                    "until retained_until) and erased then. The answer lists what was erased "
                    "and what was kept; the customer takes no more submissions (409 "
                    "customer-erased). Asking again answers the same record.",
    )
    def delete(self, request: Request, customer_id: str) -> Response:
        erasure = customer_erase(partner=request.partner, customer_id=customer_id,
                                 requested_by=f"partner:{request.partner.pk}")
        return Response(CustomerErasureSerializer(erasure).data)


class CustomerErasureDetailApi(APIView):
    @extend_schema(responses={200: CustomerErasureSerializer, 401: PROBLEM, 404: PROBLEM},
                   operation_id="customer_erasure_retrieve",
                   summary="What an erasure erased and kept", tags=TAGS)
    def get(self, request: Request, customer_id: str) -> Response:
        erasure = customer_erasure_latest(customer=_customer(request, customer_id))
        if erasure is None:
            raise NotFoundError(f"Customer {customer_id} has no erasure.")
        return Response(CustomerErasureSerializer(erasure).data)
