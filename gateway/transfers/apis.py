"""Partner API (quotes, transfers) and the payout rails' callback endpoints. Views are thin."""

import csv
import json
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, StreamingHttpResponse
from django.utils.module_loading import import_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import permissions, renderers, status
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.common.problems import (
    PROBLEM_CONTENT_TYPE,
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
)
from gateway.transfers.idempotency import idempotent_call
from gateway.transfers.models import Transfer
from gateway.transfers.selectors import (
    partner_info,
    transfer_get_by_external_id,
    transfer_get_for_partner,
    transfer_list,
    transfer_page,
)
from gateway.transfers.serializers import (
    CSV_COLUMNS,
    IndicativePriceSerializer,
    InfoSerializer,
    PriceQuerySerializer,
    ProblemSerializer,
    QuoteRequestSerializer,
    QuoteResponseSerializer,
    TransferCorrectionSerializer,
    TransferListQuerySerializer,
    TransferPageQuerySerializer,
    TransferPageSerializer,
    TransferRequestSerializer,
    TransferResponseSerializer,
    indicative_price_payload,
    transfer_csv_row,
    transfer_representation,
)
from gateway.transfers.services.creation import transfer_create
from gateway.transfers.services.payouts import payout_callback_urls, transfer_payout_outcome
from gateway.transfers.services.quotes import quote_create

logger = logging.getLogger(__name__)

# Rules a schema cannot state (one field depending on another, or on what exists: corridors,
# quotes, the venue's book, the rail's limits), named by their problem types in each operation's
# description; tests/gateway/test_api_schemathesis.py holds the operations to them.
PRICE_RULES = (
    "unknown-corridor (422) when no corridor open to you takes the asset to the currency; "
    "invalid-amount (422) for an amount with more decimals than the asset or currency has, zero, "
    "or too large; below-venue-minimum, above-venue-maximum, venue-price-out-of-range and "
    "venue-order-rules (422) against the exchange venue's order rules; below-payout-minimum and "
    "above-payout-maximum (422) against the payout rail's limits")
PROBLEM = OpenApiResponse(response=ProblemSerializer,
                          description="RFC 9457 problem details (application/problem+json)")
# What idempotent_call accepts as a key, stated in the schema (printable ASCII, 1-255 characters,
# no surrounding spaces, which HTTP would strip).
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255,
                          "pattern": "^[!-~]([ -~]*[!-~])?$"}
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", OpenApiTypes.STR, OpenApiParameter.HEADER, response=True,
    enum=["true"], description="Present (true) when the answer is the replay of an earlier "
                               "request with the same Idempotency-Key and body")


class QuoteCreateApi(APIView):
    @extend_schema(examples=[OpenApiExample("100 USDC to KES", request_only=True, value={
                       "amount_in_asset": "USDC:polygon", "amount_in": "100.00",
                       "amount_out_currency": "KES"})],
                   request=QuoteRequestSerializer,
                   responses={201: QuoteResponseSerializer, 400: PROBLEM, 401: PROBLEM,
                              422: PROBLEM, 503: PROBLEM},
                   operation_id="quote_create", summary="Get a firm quote", tags=["quotes"],
                   description="Rules beyond the schema: " + PRICE_RULES + "; invalid-recipient "
                               "(422) when recipient_phone_number is not a number the rail "
                               "pays; validation-error (400) when amount_in_asset, amount_in "
                               "or amount_out_currency is missing or differs from its "
                               "deprecated name given too (sell_asset, sell_amount, "
                               "buy_currency). 503 quote-unavailable when the venue cannot "
                               "price now.")
    def post(self, request: Request) -> Response:
        serializer = QuoteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        quote = quote_create(partner=request.partner, sell_asset=data["amount_in_asset"],
                             amount_in=data["amount_in"],
                             currency_out=data["amount_out_currency"],
                             recipient_phone=data.get("recipient_phone_number", ""))
        return Response(QuoteResponseSerializer(quote).data, status=status.HTTP_201_CREATED)


EXTERNAL_ID_CONSTRAINT = "transfer_external_id_once_per_partner"


class ExternalIdReusedError(ConflictError):
    slug = "external-id-reused"
    title = "external_id already names another transfer"


def external_id_reused(*, partner, external_id: str) -> ExternalIdReusedError:
    existing = transfer_get_by_external_id(partner=partner, external_id=external_id)
    return ExternalIdReusedError(
        f"external_id {external_id!r} already names transfer "
        f"{existing.public_id if existing else '(unknown)'}; follow that one or use another.",
        extra={"existing_transfer_id": str(existing.public_id) if existing else None},
    )


class InfoApi(APIView):
    @extend_schema(responses={200: InfoSerializer, 401: PROBLEM}, operation_id="info_retrieve",
                   summary="Corridors, limits, fees and required fields", tags=["discovery"],
                   description="Everything needed before a first quote, for your account: "
                               "fees are your own where they differ from the corridor's.")
    def get(self, request: Request) -> Response:
        return Response(InfoSerializer(partner_info(partner=request.partner)).data)


class PriceApi(APIView):
    @extend_schema(
        parameters=[PriceQuerySerializer],
        responses={200: IndicativePriceSerializer, 400: PROBLEM, 401: PROBLEM, 422: PROBLEM,
                   503: PROBLEM},
        operation_id="price_retrieve", summary="Indicative price (nothing reserved)",
        tags=["discovery"],
        description="What a quote would give now for amount_in (or the amount_in needed for "
                    "amount_out). Nothing is held or stored; the order book is read at most "
                    "every few seconds, so it is cheap to call as the sender types. POST "
                    "/quotes fixes a price. Rules beyond the schema: validation-error (400) "
                    "unless exactly one of amount_in and amount_out is given, or when "
                    "amount_in_asset or amount_out_currency (or their aliases) is missing; "
                    + PRICE_RULES + ".",
    )
    def get(self, request: Request) -> Response:
        from gateway.transfers.services.prices import price_indicative

        query = PriceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        price = price_indicative(partner=request.partner, asset=data["amount_in_asset"],
                                 currency_out=data["amount_out_currency"],
                                 amount_in=data["amount_in"], amount_out=data["amount_out"])
        return Response(indicative_price_payload(price))


class TransferListCreateApi(APIView):
    @extend_schema(
        parameters=[TransferPageQuerySerializer],
        responses={200: TransferPageSerializer, 400: PROBLEM, 401: PROBLEM},
        operation_id="transfer_list",
        summary="List transfers, newest first", tags=["transfers"],
        description="Filters combine with AND. Pages are cut by an opaque cursor that stays "
                    "valid while new transfers are created: follow next_cursor until it is null. "
                    "Rules beyond the schema: invalid-cursor (400) for a cursor that is not a "
                    "next_cursor this API gave.",
    )
    def get(self, request: Request) -> Response:
        query = TransferPageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, next_cursor = transfer_page(
            transfers=transfer_list(partner=request.partner, filters=query.filters()),
            cursor=query.validated_data.get("cursor", ""), limit=query.validated_data["limit"])
        return Response({"results": TransferResponseSerializer(page, many=True).data,
                         "next_cursor": next_cursor})

    @extend_schema(
        request=TransferRequestSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA,
                                     OpenApiParameter.HEADER, required=True,
                                     description="Unique per intended transfer"),
                    IDEMPOTENT_REPLAYED],
        examples=[OpenApiExample("Mobile-money transfer", request_only=True, value={
            "quote_id": "3f2b8c1e-2a4b-4c1d-9e7f-0a1b2c3d4e5f", "external_id": "INV-1042",
            "sender": {"name": "Amina Odhiambo", "country": "GB"},
            "recipient": {"name": "Joseph Mwangi", "phone_number": "+254708374149"}})],
        responses={201: TransferResponseSerializer, 400: PROBLEM, 401: PROBLEM, 409: PROBLEM,
                   422: PROBLEM},
        operation_id="transfer_create",
        summary="Create a transfer from a quote", tags=["transfers"],
        description="external_id, when given, must be new for your account: a reused one is "
                    "answered 409 external-id-reused with existing_transfer_id. Rules beyond "
                    "the schema: validation-error (400) unless exactly one of recipient and "
                    "recipient_id is given; unknown-quote (422) for a quote that is not yours "
                    "or does not exist, quote-expired and quote-already-used (409/422); "
                    "unknown-recipient (422) for a recipient_id that is not yours; "
                    "recipient-verification-mismatch (422) for a saved recipient whose "
                    "account name did not match; invalid-recipient (422) for a number the "
                    "rail cannot pay; travel-rule-data-invalid (422) at or above the "
                    "travel-rule threshold without complete IVMS101 data; "
                    "idempotency-key-reused (422) for a key used before with another body.",
    )
    def post(self, request: Request) -> Response:
        serializer = TransferRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        external_id = data.get("external_id", "")

        def work() -> tuple[int, dict]:
            if transfer_get_by_external_id(partner=request.partner, external_id=external_id):
                raise external_id_reused(partner=request.partner, external_id=external_id)
            if "recipient_id" in data:
                resolve = import_string(settings.TRANSFER_SAVED_RECIPIENT_RESOLVER)
                recipient = resolve(partner=request.partner,
                                    recipient_id=str(data["recipient_id"]))
            else:
                recipient = dict(data["recipient"])
            try:
                transfer = transfer_create(
                    partner=request.partner, quote_id=str(data["quote_id"]),
                    sender=dict(data["sender"]), recipient=recipient,
                    external_id=external_id, travel_rule=data.get("travel_rule"),
                    refund_address=data.get("refund_address", ""),
                )
            except IntegrityError as exc:
                # A concurrent request took the external_id after the check above.
                constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
                if constraint != EXTERNAL_ID_CONSTRAINT:
                    raise
                raise external_id_reused(partner=request.partner,
                                         external_id=external_id) from exc
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


class CSVRenderer(renderers.BaseRenderer):
    """Lets ``Accept: text/csv`` through content negotiation; the export streams its own body,
    and problems raised before it starts are still rendered as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, default=str).encode()


class _Echo:
    def write(self, value: str) -> str:
        return value


class TransferExportApi(APIView):
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        """An unknown ``?format=`` is a format this export cannot give (406), not a missing
        page (DRF's 404)."""
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            raise NotAcceptable(f"No {request.query_params.get('format')!r} export; "
                                "use format=csv or format=json.") from None

    @extend_schema(
        parameters=[TransferListQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(
            response=OpenApiTypes.STR,
            description="One header line, then one line per transfer, newest first: "
                        + ", ".join(CSV_COLUMNS)),
            400: PROBLEM, 401: PROBLEM, 406: PROBLEM},
        operation_id="transfer_export",
        summary="Export transfers as CSV for reconciliation", tags=["transfers"],
        description="The same filters as the list, every matching transfer in one file. "
                    "406 not-acceptable for a format other than csv or json.",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = TransferListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        transfers = transfer_list(partner=request.partner, filters=query.filters())
        transfers = transfers.prefetch_related(None).select_related("corridor__token__chain")
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow(CSV_COLUMNS)
            for transfer in transfers.iterator(chunk_size=500):
                yield writer.writerow(transfer_csv_row(transfer))

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="transfers.csv"'
        return response


class TransferNotCorrectableError(ConflictError):
    slug = "transfer-not-correctable"
    title = "The transfer takes no correction now"


IDEMPOTENCY_KEY_OPTIONAL = OpenApiParameter(
    "Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, OpenApiParameter.HEADER, required=False,
    description="Optional: a retried request with the same key and body replays the first "
                "answer (header Idempotent-Replayed: true)")


class TransferDetailApi(APIView):
    @extend_schema(responses={200: TransferResponseSerializer, 401: PROBLEM, 404: PROBLEM},
                   operation_id="transfer_retrieve", summary="Follow a transfer",
                   tags=["transfers"])
    def get(self, request: Request, transfer_id: str) -> Response:
        transfer = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
        if transfer is None:
            raise NotFoundError(f"Transfer {transfer_id} does not exist.")
        return Response(TransferResponseSerializer(transfer).data)

    @extend_schema(
        request=TransferCorrectionSerializer,
        parameters=[IDEMPOTENCY_KEY_OPTIONAL, IDEMPOTENT_REPLAYED],
        examples=[OpenApiExample("New number", request_only=True,
                                 value={"recipient": {"phone_number": "+254708374149"}}),
                  OpenApiExample("Cash pickup instead", request_only=True,
                                 value={"payout_method": "cash_pickup"})],
        responses={200: TransferResponseSerializer, 400: PROBLEM, 401: PROBLEM, 404: PROBLEM,
                   409: PROBLEM, 422: PROBLEM},
        operation_id="transfer_correct",
        summary="Correct the recipient after a failed payout", tags=["transfers"],
        description="Only while the status is pending_transaction_info_update (409 "
                    "transfer-not-correctable otherwise, 409 correction-window-closed after "
                    "required_info_deadline). The corrected fields are validated as at "
                    "creation (422 invalid-recipient); the payout restarts on the same quote, "
                    "rate and reserved float. Rules beyond the schema: validation-error (400) "
                    "when neither recipient nor payout_method is given.",
    )
    def patch(self, request: Request, transfer_id: str) -> Response:
        from gateway.transfers.services.payouts import transfer_payout_correct
        from gateway.transfers.services.screening import transfer_correction_screen

        transfer = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
        if transfer is None:
            raise NotFoundError(f"Transfer {transfer_id} does not exist.")
        serializer = TransferCorrectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recipient = data.get("recipient") or {}
        if recipient.get("name"):
            # Outside the idempotent transaction below: a hit's case must outlive the refusal.
            transfer_correction_screen(transfer_id=transfer.pk, name=recipient["name"])

        def work() -> tuple[int, dict]:
            try:
                transfer_payout_correct(
                    transfer_id=transfer.pk, recipient_phone=recipient.get("phone_number"),
                    recipient_name=recipient.get("name"),
                    payout_method=data.get("payout_method"),
                    actor=f"partner:{request.partner.pk}")
            except InvalidTransitionError as exc:
                current = Transfer.objects.get(pk=transfer.pk)
                raise TransferNotCorrectableError(
                    f"Transfer {transfer.public_id} is {current.sender_status} "
                    f"({current.state}); a correction is taken only while it is "
                    "pending_transaction_info_update.",
                    extra={"transfer_status": current.sender_status,
                           "transfer_state": current.state}) from exc
            shown = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
            return status.HTTP_200_OK, transfer_representation(shown)

        key = request.headers.get("Idempotency-Key", "")
        if not key:
            code, body = work()
            return Response(body, status=code)
        code, body, replayed = idempotent_call(
            partner=request.partner, key=key, method=request.method, path=request.path,
            body=request.data, work=work)
        response = Response(body, status=code,
                            content_type=PROBLEM_CONTENT_TYPE if code >= 400 else None)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class TransferCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TransferResponseSerializer, 401: PROBLEM, 404: PROBLEM, 409: PROBLEM},
        operation_id="transfer_cancel",
        summary="Cancel a transfer that was not funded", tags=["transfers"],
        description="Allowed while the transfer waits for its deposit and nothing was seen on "
                    "chain. The transfer becomes final: state cancelled, SEP-31 status expired "
                    "(SEP-31 has no cancelled status). Its deposit address closes; anything "
                    "sent to it later is held as a late deposit for refund, never credited. "
                    "Cancelling twice answers the cancelled transfer again. Once funds were "
                    "seen: 409 transfer-not-cancellable.",
    )
    def post(self, request: Request, transfer_id: str) -> Response:
        from gateway.transfers.services.cancel import transfer_cancel

        transfer = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
        if transfer is None:
            raise NotFoundError(f"Transfer {transfer_id} does not exist.")
        transfer_cancel(transfer_id=transfer.pk, actor=f"partner:{request.partner.pk}")
        transfer = transfer_get_for_partner(partner=request.partner, public_id=transfer_id)
        return Response(TransferResponseSerializer(transfer).data)


class PayoutCallbackApi(APIView):
    """Where Daraja posts B2C results / queue time-outs and MoMo posts transfer status.

    The URL must carry the rail's callback secret: otherwise 404, and nothing is stored. Nothing
    in the body is trusted until it matches an attempt this gateway sent, and a failure is acted
    on only once the provider's status query confirms it. The raw body is stored first (even if
    it is not JSON or holds NUL characters). Providers get 200 for anything parsed, so they do
    not retry forever.
    """

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    # No OPTIONS self-description: it would answer (this docstring) whatever the secret.
    metadata_class = None
    kind = "result"

    def initial(self, request: Request, *args, **kwargs) -> None:
        """Whatever the method: a URL without the rail's secret is 404 before anything else
        (a wrong method with the right secret is 405)."""
        from ramps.payouts.selectors import rail_for_callback

        super().initial(request, *args, **kwargs)
        self.rail = rail_for_callback(rail_code=kwargs.get("rail_code", ""),
                                      secret=kwargs.get("secret", ""))
        if self.rail is None:
            raise NotFoundError("Not found.")

    @extend_schema(exclude=True)
    def post(self, request: Request, rail_code: str, secret: str) -> Response:
        from ramps.payouts.services import payout_callback_record

        rail = self.rail
        result_url, timeout_url = payout_callback_urls(rail_code=rail.code)
        with transaction.atomic():
            result = payout_callback_record(
                rail=rail, raw_body=request.body, headers=dict(request.headers),
                confirm_result_url=result_url, confirm_timeout_url=timeout_url)
        if result.attempt is not None and result.changed:
            transfer = Transfer.objects.filter(public_id=result.attempt.owner_reference).first()
            if transfer is not None:
                transfer_payout_outcome(transfer_id=transfer.pk)
        if result.malformed:
            raise ParseError("The callback body is not JSON; it was stored for an operator.")
        return Response({"ResultCode": 0, "ResultDesc": "Accepted"})

    put = post
