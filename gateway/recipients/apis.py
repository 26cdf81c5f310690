"""Saved recipients: POST/GET/DELETE /api/v1/recipients. Views are thin."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.common.problems import NotFoundError
from gateway.recipients.selectors import recipient_get_for_partner, recipient_list
from gateway.recipients.serializers import (
    RecipientCreateSerializer,
    RecipientPageSerializer,
    RecipientSerializer,
)
from gateway.recipients.services import recipient_create, recipient_delete
from gateway.transfers.serializers import ProblemSerializer

PROBLEM = OpenApiResponse(response=ProblemSerializer,
                          description="RFC 9457 problem details (application/problem+json)")
RECIPIENTS_SHOWN = 200


class RecipientListCreateApi(APIView):
    @extend_schema(request=RecipientCreateSerializer,
                   responses={201: RecipientSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM},
                   operation_id="recipient_create", summary="Save and verify a recipient",
                   tags=["recipients"],
                   description="Validated as a transfer's recipient is; the rail is asked "
                               "whether the account can receive money where it offers such "
                               "a check. Name it by id (recipient_id) when creating transfers. "
                               "Rules beyond the schema: unknown-corridor (422) for a corridor "
                               "that is not open to you; invalid-recipient (422) for a number "
                               "the corridor's rail cannot pay.")
    def post(self, request: Request) -> Response:
        serializer = RecipientCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recipient = recipient_create(partner=request.partner, corridor_code=data["corridor"],
                                     name=data["name"], phone_number=data["phone_number"],
                                     country=data.get("country", ""))
        return Response(RecipientSerializer(recipient).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: RecipientPageSerializer, 401: PROBLEM},
                   operation_id="recipient_list", summary="Saved recipients, newest first",
                   tags=["recipients"])
    def get(self, request: Request) -> Response:
        recipients = recipient_list(partner=request.partner)[:RECIPIENTS_SHOWN]
        return Response({"results": RecipientSerializer(recipients, many=True).data})


class RecipientDetailApi(APIView):
    def _get(self, request: Request, recipient_id: str):
        recipient = recipient_get_for_partner(partner=request.partner, public_id=recipient_id)
        if recipient is None:
            raise NotFoundError(f"Recipient {recipient_id} does not exist.")
        return recipient

    @extend_schema(responses={200: RecipientSerializer, 401: PROBLEM, 404: PROBLEM},
                   operation_id="recipient_retrieve", summary="A saved recipient",
                   tags=["recipients"])
    def get(self, request: Request, recipient_id: str) -> Response:
        return Response(RecipientSerializer(self._get(request, recipient_id)).data)

    @extend_schema(responses={204: None, 401: PROBLEM, 404: PROBLEM},
                   operation_id="recipient_delete", summary="Delete a saved recipient",
                   tags=["recipients"],
                   description="Its personal data is erased; transfers already made keep "
                               "their own copy.")
    def delete(self, request: Request, recipient_id: str) -> Response:
        recipient_delete(recipient=self._get(request, recipient_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
