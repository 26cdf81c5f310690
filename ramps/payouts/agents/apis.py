"""REST API of cash pickup.

Networks' point-of-sale systems look up and pay codes (``Api-Key`` of an ``AgentNetworkAPIKey``,
scoped to that network's agents). Partners (senders) read and reissue the code of their own
transfers with their partner key. Views validate, call one service or selector, serialize.
"""

from decimal import Decimal
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.common.api_keys import api_key_from_headers
from gateway.common.money import money_round
from gateway.common.problems import NotFoundError
from ramps.payouts.agents.models import (
    Agent,
    AgentNetwork,
    AgentNetworkAPIKey,
    LookupAudit,
    Redemption,
)
from ramps.payouts.agents.rail import cash_pickup_details
from ramps.payouts.agents.selectors import (
    agent_float_balance,
    agent_get_for_network,
    agent_paid_today_total,
    agent_payouts_today,
    redemption_for_partner,
)
from ramps.payouts.agents.services import (
    ID_DOCUMENT_TYPES,
    Counter,
    redemption_confirm,
    redemption_lookup,
    redemption_reissue,
)

PROBLEM = OpenApiResponse(description="RFC 9457 problem details (application/problem+json)")


class NetworkPrincipal:
    """The authenticated caller: an agent network's point-of-sale, not a Django user."""

    is_authenticated = True
    is_active = True

    def __init__(self, network: AgentNetwork, key_prefix: str) -> None:
        self.network = network
        self.key_prefix = key_prefix

    def __str__(self) -> str:
        return f"agent-network:{self.network.code}"


class AgentNetworkAPIKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key <prefix>.<secret>`` (or ``X-API-Key``) of a network's key."""

    def authenticate(self, request) -> tuple[NetworkPrincipal, AgentNetworkAPIKey] | None:
        key = api_key_from_headers(request.META)
        if not key:
            return None
        try:
            api_key = AgentNetworkAPIKey.objects.get_from_key(key)
        except AgentNetworkAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown API key.") from None
        if not api_key.is_valid(key) or api_key.revoked or api_key.has_expired:
            raise exceptions.AuthenticationFailed("API key is invalid, revoked or expired.")
        if not api_key.network.is_active:
            raise exceptions.AuthenticationFailed("Agent network is disabled.")
        return NetworkPrincipal(api_key.network, api_key.prefix), api_key

    def authenticate_header(self, request: Any) -> str:
        return "Api-Key"


class IsAgentNetwork(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, NetworkPrincipal)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def receipt_payload(*, redemption: Redemption, already_paid: bool) -> dict[str, Any]:
    """What a receipt shows: no transfer internals, the ID number masked to its last 4."""
    document = redemption.id_document or {}
    number = document.get("number", "")
    staff = redemption.paid_by_staff
    return {
        "receipt_id": str(redemption.public_id),
        "already_paid": already_paid,
        "amount": str(money_round(redemption.amount, redemption.currency)),
        "currency": redemption.currency,
        "recipient_name": (redemption.transfer.recipient or {}).get("name", ""),
        "id_document_type": document.get("type", ""),
        "id_document_number_last4": number[-4:],
        "paid_at": redemption.paid_at.isoformat() if redemption.paid_at else None,
        "agent": redemption.paid_by_agent.code if redemption.paid_by_agent else "",
        "paid_by": (staff.user.get_username() if staff else redemption.paid_by_operator),
        "commission": str(money_round(redemption.commission_amount or Decimal(0),
                                      redemption.currency)),
    }


def cash_pickup_payload(*, redemption: Redemption | None) -> dict[str, Any] | None:
    """The ``cash_pickup`` object of a transfer as its sender sees it (None without a code)."""
    return None if redemption is None else cash_pickup_details(redemption=redemption)


class NetworkApi(APIView):
    authentication_classes = [AgentNetworkAPIKeyAuthentication]
    permission_classes = [IsAgentNetwork]

    def agent(self, request: Request, code: str) -> Agent:
        """An agent of the caller's own network; any other is simply unknown."""
        agent = agent_get_for_network(network=request.user.network, code=code)
        if agent is None:
            raise NotFoundError(f"Agent {code} does not exist in this network.",
                                slug="unknown-agent")
        return agent

    def counter(self, request: Request, data: dict) -> Counter:
        return Counter(agent=self.agent(request, data["agent"]),
                       channel=LookupAudit.Channel.API, api_key_prefix=request.user.key_prefix,
                       operator_reference=data.get("operator", ""),
                       client_ip=client_ip(request))


class LookupRequestSerializer(serializers.Serializer):
    agent = serializers.SlugField(max_length=40, help_text="The agent's code in the network")
    code = serializers.CharField(max_length=40, help_text="Redemption code, e.g. ABCD-EFGH-JKMN")
    operator = serializers.CharField(max_length=120, required=False, allow_blank=True,
                                     help_text="The cashier's reference in the point-of-sale")


class LookupResponseSerializer(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField()
    recipient_name = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ConfirmRequestSerializer(LookupRequestSerializer):
    id_document_type = serializers.ChoiceField(choices=list(ID_DOCUMENT_TYPES))
    id_document_number = serializers.CharField(max_length=40)


class ReceiptSerializer(serializers.Serializer):
    receipt_id = serializers.UUIDField()
    already_paid = serializers.BooleanField(
        help_text="True when this code had already been paid by this agent (a retry): do not "
        "hand over cash again")
    amount = serializers.CharField()
    currency = serializers.CharField()
    recipient_name = serializers.CharField()
    id_document_type = serializers.CharField()
    id_document_number_last4 = serializers.CharField()
    paid_at = serializers.DateTimeField()
    agent = serializers.CharField()
    paid_by = serializers.CharField()
    commission = serializers.CharField()


class RedemptionLookupApi(NetworkApi):
    @extend_schema(request=LookupRequestSerializer,
                   responses={200: LookupResponseSerializer, 401: PROBLEM, 404: PROBLEM,
                              409: PROBLEM, 429: PROBLEM},
                   summary="Look up a redemption code", tags=["cash pickup"])
    def post(self, request: Request) -> Response:
        serializer = LookupRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = redemption_lookup(counter=self.counter(request, data), code=data["code"])
        redemption = result.redemption
        return Response({"amount": str(money_round(redemption.amount, redemption.currency)),
                         "currency": redemption.currency,
                         "recipient_name": result.recipient_name,
                         "expires_at": redemption.expires_at.isoformat()})


class RedemptionConfirmApi(NetworkApi):
    @extend_schema(request=ConfirmRequestSerializer,
                   responses={200: ReceiptSerializer, 201: ReceiptSerializer, 401: PROBLEM,
                              403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM,
                              429: PROBLEM},
                   summary="Pay out a code (exactly once; a retry returns the same receipt)",
                   tags=["cash pickup"])
    def post(self, request: Request) -> Response:
        serializer = ConfirmRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = redemption_confirm(counter=self.counter(request, data), code=data["code"],
                                    id_document_type=data["id_document_type"],
                                    id_document_number=data["id_document_number"])
        return Response(receipt_payload(redemption=result.redemption,
                                        already_paid=result.already_paid),
                        status=status.HTTP_200_OK if result.already_paid
                        else status.HTTP_201_CREATED)


class AgentFloatApi(NetworkApi):
    @extend_schema(responses={200: OpenApiResponse(description="Float and today's payouts"),
                              401: PROBLEM, 404: PROBLEM},
                   summary="An agent's float and today's payouts", tags=["cash pickup"])
    def get(self, request: Request, agent_code: str) -> Response:
        agent = self.agent(request, agent_code)
        payouts = agent_payouts_today(agent=agent)
        return Response({
            "agent": agent.code, "currency": agent.currency,
            "float": str(money_round(agent_float_balance(agent=agent), agent.currency)),
            "paid_today": str(money_round(agent_paid_today_total(agent=agent), agent.currency)),
            "payouts_today": [receipt_payload(redemption=r, already_paid=False)
                              for r in payouts.select_related("transfer", "paid_by_agent")],
        })


def partner_redemption_or_404(request: Request, transfer_id: str) -> Redemption:
    """The redemption of one of the calling partner's transfers; any other is unknown."""
    redemption = redemption_for_partner(partner=request.partner, transfer_public_id=transfer_id)
    if redemption is None:
        raise NotFoundError(f"Transfer {transfer_id} has no redemption code.")
    return redemption


class TransferCashPickupApi(APIView):
    """The sender's view of its transfer's code (partner key)."""

    @extend_schema(responses={200: OpenApiResponse(description="cash_pickup object"),
                              401: PROBLEM, 404: PROBLEM},
                   summary="Redemption code of a cash-pickup transfer", tags=["transfers"])
    def get(self, request: Request, transfer_id: str) -> Response:
        redemption = partner_redemption_or_404(request, transfer_id)
        return Response(cash_pickup_payload(redemption=redemption))


class TransferCashPickupReissueApi(APIView):
    @extend_schema(request=None,
                   responses={200: OpenApiResponse(description="cash_pickup object"),
                              401: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Reissue the code (the old one stops working)", tags=["transfers"])
    def post(self, request: Request, transfer_id: str) -> Response:
        redemption = partner_redemption_or_404(request, transfer_id)
        redemption = redemption_reissue(redemption_id=redemption.pk,
                                        actor=f"partner:{request.partner.name}")
        return Response(cash_pickup_payload(redemption=redemption))


class AgentNetworkAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ramps.payouts.agents.apis.AgentNetworkAPIKeyAuthentication"
    name = "AgentNetworkApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Api-Key <prefix>.<secret> of an agent network's key"}
