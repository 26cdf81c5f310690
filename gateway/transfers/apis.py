"""Partner API (quotes, transfers) and the payout rails' callback endpoints. Views are thin."""

import json
import logging

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.common.problems import PROBLEM_CONTENT_TYPE, NotFoundError
from gateway.transfers.idempotency import idempotent_call
from gateway.transfers.models import Transfer
from gateway.transfers.selectors import transfer_get_for_partner
from gateway.transfers.serializers import (
    QuoteRequestSerializer,
    QuoteResponseSerializer,
    TransferRequestSerializer,
    TransferResponseSerializer,
)
from gateway.transfers.services import quote_create, transfer_create, transfer_payout_outcome

logger = logging.getLogger(__name__)

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")


class QuoteCreateApi(APIView):
    @extend_schema(request=QuoteRequestSerializer,
                   responses={201: QuoteResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM, 503: PROBLEM},
                   summary="Get a firm quote", tags=["quotes"])
    def post(self, request: Request) -> Response:
        serializer = QuoteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        quote = quote_create(partner=request.partner, sell_asset=data["sell_asset"],
                             amount_in=data["sell_amount"], currency_out=data["buy_currency"])
        return Response(QuoteResponseSerializer(quote).data, status=status.HTTP_201_CREATED)


class TransferCreateApi(APIView):
    @extend_schema(
        request=TransferRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                     required=True, description="Unique per intended transfer")],
        responses={201: TransferResponseSerializer, 400: PROBLEM, 401: PROBLEM, 409: PROBLEM,
                   422: PROBLEM},
        summary="Create a transfer from a quote", tags=["transfers"],
    )
    def post(self, request: Request) -> Response:
        serializer = TransferRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def work() -> tuple[int, dict]:
            transfer = transfer_create(
                partner=request.partner, quote_id=str(data["quote_id"]),
                sender=dict(data["sender"]), recipient=dict(data["recipient"]),
                external_id=data.get("external_id", ""),
                travel_rule=data.get("travel_rule"),
            )
            transfer = Transfer.objects.select_related(
                "corridor__token__chain", "deposit_address", "quote"
            ).prefetch_related("events").get(pk=transfer.pk)
            return status.HTTP_201_CREATED, json.loads(
                json.dumps(TransferResponseSerializer(transfer).data, default=str))

        code, body, replayed = idempotent_call(
            partner=request.partner, key=request.headers.get("Idempotency-Key", ""),
            method=request.method, path=request.path, body=request.data, work=work,
        )
        response = Response(body, status=code,
                            content_type=PROBLEM_CONTENT_TYPE if code >= 400 else None)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class TransferDetailApi(APIView):
    @extend_schema(responses={200: TransferResponseSerializer, 401: PROBLEM, 404: PROBLEM},
                   summary="Follow a transfer", tags=["transfers"])
    def get(self, request: Request, transfer_id: str) -> Response:
        transfer = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
        if transfer is None:
            raise NotFoundError(f"Transfer {transfer_id} does not exist.")
        return Response(TransferResponseSerializer(transfer).data)


class PayoutCallbackApi(APIView):
    """Where Daraja posts B2C results / queue time-outs and MoMo posts transfer status.

    Nothing in the body is trusted until it matches an attempt this gateway sent; the raw body is
    stored first. Providers get 200 for anything parsed, so they do not retry forever.
    """

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    kind = "result"

    @extend_schema(exclude=True)
    def post(self, request: Request, rail_code: str) -> Response:
        from ramps.payouts.models import Rail
        from ramps.payouts.services import payout_callback_record

        rail = Rail.objects.filter(code=rail_code).first()
        if rail is None:
            raise NotFoundError(f"Unknown rail {rail_code}.")
        body = request.data if isinstance(request.data, dict) else {"raw": request.data}
        with transaction.atomic():
            result = payout_callback_record(rail=rail, body=body, headers=dict(request.headers))
        if result.attempt is not None and result.changed:
            transfer = Transfer.objects.filter(public_id=result.attempt.owner_reference).first()
            if transfer is not None:
                transfer_payout_outcome(transfer_id=transfer.pk)
        return Response({"ResultCode": 0, "ResultDesc": "Accepted"})

    put = post
