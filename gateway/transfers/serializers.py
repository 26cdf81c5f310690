"""Request validation and response shapes of the partner API. Amounts are decimal strings."""

import json
from datetime import datetime
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import DateTimeField as _DateTimeField

from gateway.common.money import from_base_units, money_round
from gateway.transfers.models import Quote, Transfer
from gateway.transfers.states import SENDER_STATUS, SenderStatus, TransferState


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details (``application/problem+json``), as every error is answered."""

    type = serializers.CharField(help_text="Stable problem type, e.g. /problems/quote-expired")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False, help_text="The request path")
    errors = serializers.DictField(required=False,
                                   help_text="Per field messages (validation-error)")


def api_timestamp(value: datetime) -> str:
    """The API's one timestamp format (RFC 3339 in UTC, as DRF renders ``DateTimeField``)."""
    return _DateTimeField().to_representation(value)


class DecimalStringField(serializers.CharField):
    """A money amount as a JSON string ("100.50"); JSON numbers are refused (floats lose cents).
    The text reaches the service as sent (no trimming): ``parse_amount`` decides strictly."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Amounts must be JSON strings, e.g. \"100.00\".")
        return super().to_internal_value(data)


class QuoteRequestSerializer(serializers.Serializer):
    """One vocabulary: ``amount_in`` (sold, in the asset) and ``amount_out`` (paid out). The
    SEP-38-style names of the first version (sell_asset, sell_amount, buy_currency) are still
    accepted in place of the new ones."""

    amount_in_asset = serializers.CharField(
        max_length=120, required=False,
        help_text="CAIP-19 asset id (eip155:137/erc20:0x...) or alias SYMBOL:chain (USDC:polygon)",
    )
    amount_in = DecimalStringField(max_length=40, required=False,
                                   help_text="Amount the sender deposits, a decimal string")
    amount_out_currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False,
                                                 help_text="ISO 4217 code, e.g. KES")
    sell_asset = serializers.CharField(max_length=120, required=False,
                                       help_text="Deprecated name of amount_in_asset")
    sell_amount = DecimalStringField(max_length=40, required=False,
                                     help_text="Deprecated name of amount_in")
    buy_currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False,
                                          help_text="Deprecated name of amount_out_currency")
    recipient_phone_number = serializers.CharField(
        max_length=32, required=False, allow_blank=True,
        help_text="Optional: the recipient's number (E.164), checked now against the payout "
                  "rail's rules, so that a number the rail cannot pay is refused before any "
                  "money moves (problem type invalid-recipient). The transfer still names it.")

    ALIASES = {"amount_in_asset": "sell_asset", "amount_in": "sell_amount",
               "amount_out_currency": "buy_currency"}

    def validate(self, attrs: dict) -> dict:
        resolved, missing = {}, {}
        for name, old in self.ALIASES.items():
            if name in attrs and old in attrs and attrs[name] != attrs[old]:
                raise serializers.ValidationError({name: f"Give {name} or {old}, not both."})
            value = attrs.get(name, attrs.get(old))
            if value is None:
                missing[name] = ["This field is required."]
            resolved[name] = value
        if missing:
            raise serializers.ValidationError(missing)
        if "recipient_phone_number" in attrs:
            resolved["recipient_phone_number"] = attrs["recipient_phone_number"]
        return resolved


class FeeSerializer(serializers.Serializer):
    """What the sender pays, in the sold asset; the spread kept on the rate is stated too."""

    total = serializers.CharField(help_text="fixed + variable, in the asset")
    fixed = serializers.CharField(allow_null=True, help_text="Fixed part, in the asset")
    variable = serializers.CharField(allow_null=True,
                                     help_text="Proportional part, in the asset")
    margin_rate = serializers.CharField(
        allow_null=True,
        help_text="Spread kept on the exchange rate (0.004 = 0.4%), already in rate")
    asset = serializers.CharField(help_text="CAIP-19 asset id")
    asset_alias = serializers.CharField(help_text="SYMBOL:chain")


def asset_alias(token) -> str:
    """The short name people use for an asset (``USDC:anvil``); quotes accept it."""
    return f"{token.symbol}:{token.chain.name}"


def fee_breakdown(*, quote: Quote, amount_fee, token) -> dict:
    """The fee as the sender may see it: never the venue, its fee or anything internal."""
    details = quote.fee_details or {}
    symbol = token.symbol

    def amount(name: str) -> str | None:
        value = details.get(name)
        return str(money_round(Decimal(value), symbol)) if value not in (None, "") else None

    return {"total": str(money_round(amount_fee, symbol)), "fixed": amount("fixed"),
            "variable": amount("variable"), "margin_rate": details.get("margin_rate") or None,
            "asset": token.caip19, "asset_alias": asset_alias(token)}


class QuoteResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    amount_in = serializers.SerializerMethodField(help_text="What the sender deposits")
    amount_in_asset = serializers.SerializerMethodField(help_text="CAIP-19 asset id")
    amount_in_asset_alias = serializers.SerializerMethodField(help_text="SYMBOL:chain")
    amount_fee = serializers.SerializerMethodField(help_text="Total fee, in the asset")
    amount_out = serializers.SerializerMethodField(help_text="What the recipient receives")
    amount_out_currency = serializers.CharField(source="currency_out", help_text="ISO 4217")
    rate = serializers.SerializerMethodField(
        help_text="amount_out_currency per unit of the asset, after the margin")
    fee = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()

    def get_amount_in(self, quote: Quote) -> str:
        return str(money_round(quote.amount_in, quote.sell_asset))

    def get_amount_in_asset(self, quote: Quote) -> str:
        return quote.corridor.token.caip19

    def get_amount_in_asset_alias(self, quote: Quote) -> str:
        return asset_alias(quote.corridor.token)

    def get_amount_fee(self, quote: Quote) -> str:
        return str(money_round(quote.amount_fee, quote.sell_asset))

    def get_amount_out(self, quote: Quote) -> str:
        return str(money_round(quote.amount_out, quote.currency_out))

    def get_rate(self, quote: Quote) -> str:
        return str(quote.rate.normalize())

    @extend_schema_field(FeeSerializer)
    def get_fee(self, quote: Quote) -> dict:
        return fee_breakdown(quote=quote, amount_fee=quote.amount_fee, token=quote.corridor.token)


class PartySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    phone_number = serializers.CharField(max_length=32, required=False, allow_blank=True,
                                         help_text="E.164, e.g. +254712345678")
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False,
                                     help_text="ISO 3166-1 alpha-2")


class RecipientSerializer(PartySerializer):
    phone_number = serializers.CharField(max_length=32, help_text="E.164 mobile-money number")


class TransferRequestSerializer(serializers.Serializer):
    quote_id = serializers.UUIDField()
    sender = PartySerializer()
    recipient = RecipientSerializer(required=False,
                                    help_text="The recipient, or give recipient_id instead")
    recipient_id = serializers.UUIDField(
        required=False, help_text="A saved recipient (POST /api/v1/recipients); refused when "
                                  "its verification is mismatch")
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                        help_text="Your own reference; unique per account")
    refund_address = serializers.CharField(
        max_length=42, required=False, allow_blank=True,
        help_text="EIP-55 address on the deposit's chain that refunds go to (default: your "
                  "account's refund address, else the address that paid)")
    travel_rule = serializers.DictField(
        required=False,
        help_text="IVMS101 data: {\"originator\": {...}, \"beneficiary\": {...}}. Required with "
                  "complete identity data at or above the travel-rule threshold (USD 1,000); "
                  "below it the sender's and recipient's names and account references suffice.",
    )

    def validate(self, attrs: dict) -> dict:
        if ("recipient" in attrs) == ("recipient_id" in attrs):
            raise serializers.ValidationError(
                {"recipient": ["Give recipient or recipient_id (one of them)."]})
        return attrs


class RecipientCorrectionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    phone_number = serializers.CharField(max_length=32, required=False,
                                         help_text="E.164 mobile-money number")


class TransferCorrectionSerializer(serializers.Serializer):
    """What a sender may correct after a failed payout; at least one field."""

    recipient = RecipientCorrectionSerializer(required=False)
    payout_method = serializers.ChoiceField(
        choices=["mobile_money", "cash_pickup"], required=False,
        help_text="Switch to cash pickup where the corridor offers it (see "
                  "required_info_updates)")

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("payout_method") and not attrs.get("recipient"):
            raise serializers.ValidationError(
                "Give recipient.phone_number, recipient.name or payout_method.")
        return attrs


class DepositInstructionsSerializer(serializers.Serializer):
    chain = serializers.CharField(help_text="CAIP-2 chain id")
    asset = serializers.CharField(help_text="CAIP-19 asset id")
    asset_alias = serializers.CharField(help_text="SYMBOL:chain")
    address = serializers.CharField(help_text="EIP-55 address to pay")
    amount = serializers.CharField(help_text="Decimal amount to send")
    amount_base_units = serializers.CharField(help_text="Integer amount in token base units")
    expires_at = serializers.DateTimeField()


class TimelineEventSerializer(serializers.Serializer):
    state = serializers.CharField(source="to_state", help_text="Internal state entered")
    status = serializers.SerializerMethodField(help_text="SEP-31 status from then on")
    at = serializers.DateTimeField(source="created_at")

    def get_status(self, event) -> str:
        return SENDER_STATUS[event.to_state]


class RefundPaymentSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True,
                               help_text="On-chain transaction hash (null until broadcast)")
    id_type = serializers.CharField(help_text="Always 'tx_hash'")
    amount = serializers.CharField(help_text="Amount returned, in the asset")
    fee = serializers.CharField(help_text="Fee kept from this payment, in the asset")
    to_address = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "completed", "failed"])
    created_at = serializers.DateTimeField()


class RefundsSerializer(serializers.Serializer):
    amount_refunded = serializers.CharField(help_text="Sum of completed refund payments")
    amount_fee = serializers.CharField(help_text="Fees kept from refunds, in the asset")
    asset = serializers.CharField(help_text="CAIP-19 asset id")
    asset_alias = serializers.CharField(help_text="SYMBOL:chain")
    payments = RefundPaymentSerializer(many=True)


class CashPickupSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["issued", "held", "paid", "cancelled"])
    code = serializers.CharField(allow_null=True,
                                 help_text="Redemption code, while it can be collected")
    expires_at = serializers.CharField(help_text="RFC 3339")
    issue_number = serializers.IntegerField()
    network = serializers.CharField(help_text="Agent network that pays the cash")
    paid_at = serializers.CharField(allow_null=True, help_text="RFC 3339")


# Statuses whose hold or failure a sender may not learn the reason of (no tipping off).
PUBLIC_HOLD_REASON = "under_review"
CORRECTABLE_FIELDS = ["recipient.phone_number", "recipient.name"]


class TransferResponseSerializer(serializers.Serializer):
    """The one representation of a transfer: API answers, the CSV's source, webhook payloads
    (``transfer_representation``)."""

    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField(source="sender_status", help_text="SEP-31 status")
    state = serializers.CharField(help_text="Internal state (finer than status)")
    external_id = serializers.CharField()
    quote_id = serializers.UUIDField(source="quote.public_id")
    corridor = serializers.CharField(source="corridor.code")
    amount_in = serializers.SerializerMethodField(help_text="Expected deposit")
    amount_in_asset = serializers.SerializerMethodField(help_text="CAIP-19 asset id")
    amount_in_asset_alias = serializers.SerializerMethodField(help_text="SYMBOL:chain")
    amount_fee = serializers.SerializerMethodField(help_text="Total fee, in the asset")
    amount_out = serializers.SerializerMethodField(help_text="What the recipient receives")
    amount_out_currency = serializers.CharField(source="currency_out", help_text="ISO 4217")
    rate = serializers.SerializerMethodField(help_text="amount_out_currency per asset unit")
    fee = serializers.SerializerMethodField()
    payout_method = serializers.SerializerMethodField(
        help_text="mobile_money or cash_pickup (after a switch, the one chosen)")
    deposit = serializers.SerializerMethodField()
    refund_address = serializers.CharField(allow_blank=True)
    hold_reason = serializers.SerializerMethodField(
        help_text="'under_review' while on hold, else null; the reason is never disclosed")
    required_info_updates = serializers.SerializerMethodField(
        help_text="Fields to correct with PATCH (status pending_transaction_info_update)")
    required_info_message = serializers.SerializerMethodField()
    required_info_deadline = serializers.SerializerMethodField(
        help_text="Until when a correction is taken; afterwards the transfer is refunded")
    refunds = serializers.SerializerMethodField()
    cash_pickup = serializers.SerializerMethodField(
        help_text="Cash-pickup code and status (null for mobile-money transfers)")
    timeline = TimelineEventSerializer(source="events", many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(CashPickupSerializer(allow_null=True))
    def get_cash_pickup(self, transfer: Transfer) -> dict | None:
        from gateway.transfers.services.payout_rails import transfer_cash_pickup

        state = transfer_cash_pickup(transfer)
        if state is None or state.details is None:
            return None
        payload = dict(state.details)
        for name in ("expires_at", "paid_at"):
            if payload.get(name):
                payload[name] = api_timestamp(datetime.fromisoformat(payload[name]))
        return payload

    def get_amount_in(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_in, transfer.corridor.token.symbol))

    def get_amount_in_asset(self, transfer: Transfer) -> str:
        return transfer.corridor.token.caip19

    def get_amount_in_asset_alias(self, transfer: Transfer) -> str:
        return asset_alias(transfer.corridor.token)

    def get_amount_fee(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_fee, transfer.corridor.token.symbol))

    def get_amount_out(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_out, transfer.currency_out))

    def get_rate(self, transfer: Transfer) -> str:
        return str(transfer.rate.normalize())

    @extend_schema_field(FeeSerializer)
    def get_fee(self, transfer: Transfer) -> dict:
        return fee_breakdown(quote=transfer.quote, amount_fee=transfer.amount_fee,
                             token=transfer.corridor.token)

    def get_payout_method(self, transfer: Transfer) -> str:
        return transfer.payout_method or transfer.corridor.payout_method

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_required_info_deadline(self, transfer: Transfer) -> str | None:
        if transfer.state != TransferState.PAYOUT_FAILED:
            return None
        window = getattr(transfer.corridor, "correction_window", None)
        return api_timestamp(transfer.state_changed_at + window) if window else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_hold_reason(self, transfer: Transfer) -> str | None:
        return PUBLIC_HOLD_REASON if transfer.state == TransferState.ON_HOLD else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField(), allow_null=True))
    def get_required_info_updates(self, transfer: Transfer) -> list[str] | None:
        if transfer.sender_status != SenderStatus.PENDING_TRANSACTION_INFO_UPDATE:
            return None
        fields = list(CORRECTABLE_FIELDS)
        if transfer_cash_pickup_offered(transfer):
            fields.append("payout_method")
        return fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_required_info_message(self, transfer: Transfer) -> str | None:
        if transfer.sender_status != SenderStatus.PENDING_TRANSACTION_INFO_UPDATE:
            return None
        message = ("The payout to the recipient failed. Correct the recipient's phone number "
                   f"or name with PATCH /api/v1/transfers/{transfer.public_id}")
        if transfer_cash_pickup_offered(transfer):
            message += ", or switch payout_method to cash_pickup"
        return message + "; the same quote and rate are kept."

    @extend_schema_field(RefundsSerializer(allow_null=True))
    def get_refunds(self, transfer: Transfer) -> dict | None:
        from gateway.transfers.selectors import transfer_refund_payments

        payments = transfer_refund_payments(transfer=transfer)
        if not payments:
            return None
        token = transfer.corridor.token
        symbol = token.symbol

        def decimal(units: int) -> Decimal:
            return money_round(from_base_units(units, token.decimals), symbol)

        refunded = sum((p.amount for p in payments if p.status == "completed"), 0)
        return {
            "amount_refunded": str(decimal(refunded)),
            "amount_fee": str(decimal(0)),
            "asset": token.caip19, "asset_alias": asset_alias(token),
            "payments": [{"id": p.tx_hash or None, "id_type": "tx_hash",
                          "amount": str(decimal(p.amount)), "fee": str(decimal(0)),
                          "to_address": p.to_address, "status": p.status,
                          "created_at": api_timestamp(p.created_at)} for p in payments],
        }

    @extend_schema_field(DepositInstructionsSerializer)
    def get_deposit(self, transfer: Transfer) -> dict:
        token = transfer.corridor.token
        return DepositInstructionsSerializer({
            "chain": token.chain.caip2, "asset": token.caip19, "asset_alias": asset_alias(token),
            "address": transfer.deposit_address.address,
            "amount": str(money_round(transfer.amount_in, token.symbol)),
            "amount_base_units": str(transfer.amount_in_base_units),
            "expires_at": transfer.deposit_expires_at,
        }).data


def transfer_cash_pickup_offered(transfer: Transfer) -> bool:
    """Whether a failed payout may switch to cash at agents: the corridor has a cash-pickup
    network and the transfer is not paid as cash already."""
    from django.core.exceptions import ObjectDoesNotExist

    if (transfer.payout_method or transfer.corridor.payout_method) == "cash_pickup":
        return False
    try:
        return transfer.corridor.cash_pickup is not None
    except ObjectDoesNotExist:
        return False


def transfer_representation(transfer: Transfer) -> dict:
    """The transfer as its sender sees it, as plain JSON-ready data: the API's answers and every
    webhook event carry exactly this (one vocabulary, one timestamp format, no internal detail).
    """
    return json.loads(json.dumps(TransferResponseSerializer(transfer).data))


class QuerySerializer(serializers.Serializer):
    """Query parameters: one given empty (``?status=``) is refused, not taken as left out."""

    def to_internal_value(self, data):
        blank = {name: ["Give a value or leave the parameter out."]
                 for name in self.fields if name in data and data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class PriceQuerySerializer(QuerySerializer):
    """Query of ``GET /api/v1/prices``: the asset, the currency, and one of the two amounts."""

    amount_in_asset = serializers.CharField(max_length=120, required=False,
                                            help_text="CAIP-19 id or SYMBOL:chain")
    amount_out_currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False,
                                                 help_text="ISO 4217 code")
    amount_in = DecimalStringField(max_length=40, required=False,
                                   help_text="Amount to sell (give this or amount_out)")
    amount_out = DecimalStringField(max_length=40, required=False,
                                    help_text="Amount the recipient should get")
    sell_asset = serializers.CharField(max_length=120, required=False,
                                       help_text="Alias of amount_in_asset")
    buy_currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False,
                                          help_text="Alias of amount_out_currency")
    sell_amount = DecimalStringField(max_length=40, required=False,
                                     help_text="Alias of amount_in")
    buy_amount = DecimalStringField(max_length=40, required=False,
                                    help_text="Alias of amount_out")

    ALIASES = {"amount_in_asset": "sell_asset", "amount_out_currency": "buy_currency",
               "amount_in": "sell_amount", "amount_out": "buy_amount"}

    def validate(self, attrs: dict) -> dict:
        resolved = {name: attrs.get(name, attrs.get(old)) for name, old in self.ALIASES.items()}
        missing = {name: ["This field is required."]
                   for name in ("amount_in_asset", "amount_out_currency") if not resolved[name]}
        if missing:
            raise serializers.ValidationError(missing)
        if (resolved["amount_in"] is None) == (resolved["amount_out"] is None):
            raise serializers.ValidationError({"amount_in": ["Give amount_in or amount_out."]})
        return resolved


class IndicativePriceSerializer(serializers.Serializer):
    amount_in = serializers.CharField()
    amount_in_asset = serializers.CharField(help_text="CAIP-19 asset id")
    amount_in_asset_alias = serializers.CharField(help_text="SYMBOL:chain")
    amount_fee = serializers.CharField()
    fee = FeeSerializer()
    amount_out = serializers.CharField()
    amount_out_currency = serializers.CharField()
    rate = serializers.CharField()
    indicative = serializers.BooleanField(help_text="Always true: nothing is held; quote to fix")
    priced_at = serializers.DateTimeField(help_text="Time of the order book used")


def indicative_price_payload(price) -> dict:
    token = price.corridor.token
    symbol = token.symbol
    return IndicativePriceSerializer({
        "amount_in": str(money_round(price.amount_in, symbol)), "amount_in_asset": token.caip19,
        "amount_in_asset_alias": asset_alias(token),
        "amount_fee": str(money_round(price.amount_fee, symbol)),
        "fee": {"total": str(money_round(price.amount_fee, symbol)),
                "fixed": str(price.fee_fixed), "variable": str(price.fee_variable),
                "margin_rate": str(price.margin_rate), "asset": token.caip19,
                "asset_alias": asset_alias(token)},
        "amount_out": str(money_round(price.amount_out, price.corridor.currency_out)),
        "amount_out_currency": price.corridor.currency_out,
        "rate": str(price.rate.normalize()), "indicative": True, "priced_at": price.book_time,
    }).data


class FieldsSerializer(serializers.Serializer):
    required = serializers.ListField(child=serializers.CharField())
    optional = serializers.ListField(child=serializers.CharField())


class InfoAssetSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="CAIP-19 asset id")
    alias = serializers.CharField(help_text="SYMBOL:chain")
    chain = serializers.CharField(help_text="CAIP-2 chain id")
    symbol = serializers.CharField()


class InfoCorridorSerializer(serializers.Serializer):
    code = serializers.CharField()
    asset = InfoAssetSerializer()
    amount_out_currency = serializers.CharField()
    country = serializers.CharField(allow_blank=True, help_text="ISO 3166-1 of the payout")
    payout_methods = serializers.ListField(child=serializers.CharField())
    min_amount_in = serializers.CharField()
    max_amount_in = serializers.CharField()
    fee_fixed = serializers.CharField(help_text="In the asset")
    fee_rate = serializers.CharField(help_text="Share of amount_in (0.005 = 0.5%)")
    margin_rate = serializers.CharField(help_text="Spread kept on the rate")
    sender_fields = FieldsSerializer()
    recipient_fields = FieldsSerializer()
    correction_window_seconds = serializers.IntegerField(allow_null=True)


class KycTierInfoSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    natural_person_fields = serializers.ListField(child=serializers.CharField())
    business_fields = serializers.ListField(child=serializers.CharField())
    limit_per_transfer_usd = serializers.CharField(allow_null=True)
    limit_per_day_usd = serializers.CharField(allow_null=True)
    limit_per_30_days_usd = serializers.CharField(allow_null=True)


class InfoSerializer(serializers.Serializer):
    corridors = InfoCorridorSerializer(many=True)
    kyc_tiers = KycTierInfoSerializer(many=True)
    travel_rule_threshold_usd = serializers.CharField(
        help_text="At or above: full IVMS101 originator and beneficiary data required")
    quote_lifetime_seconds = serializers.IntegerField()
    deposit_window_seconds = serializers.IntegerField()


_ONE_STATUS = "|".join(SenderStatus.values)


@extend_schema_field({"type": "string", "maxLength": 400,
                      "pattern": f"^({_ONE_STATUS})(,({_ONE_STATUS}))*$"})
class StatusListField(serializers.CharField):
    """SEP-31 statuses separated by commas; the pattern documents what the service accepts."""


class TransferListQuerySerializer(QuerySerializer):
    """Query parameters of ``GET /api/v1/transfers`` and its CSV export."""

    status = StatusListField(
        required=False, max_length=400,
        help_text="SEP-31 status, or several separated by commas (pending_sender,completed)")
    corridor = serializers.CharField(required=False, max_length=80, help_text="Corridor code")
    external_id = serializers.CharField(required=False, max_length=100,
                                        help_text="Your own reference given at creation")
    created_after = serializers.DateTimeField(required=False, help_text="Inclusive, RFC 3339")
    created_before = serializers.DateTimeField(required=False, help_text="Exclusive, RFC 3339")
    updated_after = serializers.DateTimeField(required=False, help_text="Inclusive, RFC 3339")
    updated_before = serializers.DateTimeField(required=False, help_text="Exclusive, RFC 3339")

    def validate_status(self, value: str) -> list[str]:
        from gateway.transfers.states import SenderStatus

        statuses = [part.strip() for part in value.split(",") if part.strip()]
        unknown = sorted(set(statuses) - set(SenderStatus.values))
        if unknown or not statuses:
            raise serializers.ValidationError(
                f"Unknown status {', '.join(unknown) or repr(value)}; one or more of "
                f"{', '.join(SenderStatus.values)}.")
        return statuses

    def filters(self):
        from gateway.transfers.selectors import TransferFilters

        data = self.validated_data
        return TransferFilters(
            statuses=tuple(data.get("status", ())), corridor=data.get("corridor", ""),
            external_id=data.get("external_id", ""),
            created_after=data.get("created_after"), created_before=data.get("created_before"),
            updated_after=data.get("updated_after"), updated_before=data.get("updated_before"),
        )


class TransferPageQuerySerializer(TransferListQuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50,
                                     help_text="Page size (1-200)")
    cursor = serializers.CharField(required=False, max_length=400,
                                   help_text="next_cursor of the previous page")


class TransferPageSerializer(serializers.Serializer):
    results = TransferResponseSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next page; null on the last page")


# --- CSV export for reconciliation -----------------------------------------------------------

CSV_COLUMNS = ("id", "external_id", "status", "state", "corridor", "amount_in",
               "amount_in_asset", "amount_fee", "amount_out", "amount_out_currency", "rate",
               "created_at", "updated_at")


def csv_safe(value: str) -> str:
    """A partner-supplied text that a spreadsheet would run as a formula gets a leading quote
    (CSV injection); nothing else is altered."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def transfer_csv_row(transfer: Transfer) -> tuple[str, ...]:
    token = transfer.corridor.token
    return (
        str(transfer.public_id), csv_safe(transfer.external_id), transfer.sender_status,
        transfer.state, csv_safe(transfer.corridor.code),
        str(money_round(transfer.amount_in, token.symbol)), token.caip19,
        str(money_round(transfer.amount_fee, token.symbol)),
        str(money_round(transfer.amount_out, transfer.currency_out)), transfer.currency_out,
        str(transfer.rate.normalize()), api_timestamp(transfer.created_at),
        api_timestamp(transfer.updated_at),
    )
