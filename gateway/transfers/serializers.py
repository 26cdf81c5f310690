"""Request validation and response shapes of the partner API. Amounts are decimal strings."""

from datetime import datetime

from rest_framework import serializers
from rest_framework.fields import DateTimeField as _DateTimeField

from gateway.common.money import money_round
from gateway.transfers.models import Quote, Transfer


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
    sell_asset = serializers.CharField(
        max_length=120,
        help_text="CAIP-19 asset id (eip155:137/erc20:0x...) or alias SYMBOL:chain (USDC:polygon)",
    )
    sell_amount = DecimalStringField(max_length=40, help_text="Amount the sender deposits")
    buy_currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217 code, e.g. KES")
    recipient_phone_number = serializers.CharField(
        max_length=32, required=False, allow_blank=True,
        help_text="Optional: the recipient's number (E.164), checked now against the payout "
                  "rail's rules, so that a number the rail cannot pay is refused before any "
                  "money moves (problem type invalid-recipient). The transfer still names it.")


class FeeSerializer(serializers.Serializer):
    total = serializers.CharField()
    asset = serializers.CharField()
    details = serializers.DictField(child=serializers.CharField())


class QuoteResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    sell_asset = serializers.SerializerMethodField()
    sell_amount = serializers.SerializerMethodField()
    buy_currency = serializers.CharField(source="currency_out")
    buy_amount = serializers.SerializerMethodField()
    rate = serializers.SerializerMethodField()
    fee = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()

    def get_sell_asset(self, quote: Quote) -> str:
        return quote.corridor.token.caip19

    def get_sell_amount(self, quote: Quote) -> str:
        return str(money_round(quote.amount_in, quote.sell_asset))

    def get_buy_amount(self, quote: Quote) -> str:
        return str(money_round(quote.amount_out, quote.currency_out))

    def get_rate(self, quote: Quote) -> str:
        return str(quote.rate.normalize())

    def get_fee(self, quote: Quote) -> dict:
        return {"total": str(money_round(quote.amount_fee, quote.sell_asset)),
                "asset": quote.sell_asset, "details": quote.fee_details}


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
    recipient = RecipientSerializer()
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    travel_rule = serializers.DictField(
        required=False,
        help_text="IVMS101 data: {\"originator\": {...}, \"beneficiary\": {...}}. Required with "
                  "complete identity data at or above the travel-rule threshold (USD 1,000); "
                  "below it the sender's and recipient's names and account references suffice.",
    )


class DepositInstructionsSerializer(serializers.Serializer):
    chain = serializers.CharField(help_text="CAIP-2 chain id")
    asset = serializers.CharField(help_text="CAIP-19 asset id")
    address = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal amount to send")
    amount_base_units = serializers.CharField(help_text="Integer amount in token base units")
    expires_at = serializers.DateTimeField()


class TimelineEventSerializer(serializers.Serializer):
    state = serializers.CharField(source="to_state")
    at = serializers.DateTimeField(source="created_at")
    reason = serializers.CharField()


class TransferResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.CharField(source="sender_status", help_text="SEP-31 status")
    state = serializers.CharField(help_text="Internal state (finer than status)")
    external_id = serializers.CharField()
    quote_id = serializers.UUIDField(source="quote.public_id")
    amount_in = serializers.SerializerMethodField()
    amount_in_asset = serializers.SerializerMethodField()
    amount_fee = serializers.SerializerMethodField()
    amount_out = serializers.SerializerMethodField()
    amount_out_currency = serializers.CharField(source="currency_out")
    rate = serializers.SerializerMethodField()
    deposit = serializers.SerializerMethodField()
    hold_reason = serializers.CharField()
    cash_pickup = serializers.SerializerMethodField(
        help_text="Cash-pickup code and status (null for mobile-money transfers)")
    timeline = TimelineEventSerializer(source="events", many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_cash_pickup(self, transfer: Transfer) -> dict | None:
        from django.core.exceptions import ObjectDoesNotExist

        from gateway.agents.apis import cash_pickup_payload

        try:
            redemption = transfer.redemption
        except ObjectDoesNotExist:
            redemption = None
        return cash_pickup_payload(redemption=redemption)

    def get_amount_in(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_in, transfer.corridor.token.symbol))

    def get_amount_in_asset(self, transfer: Transfer) -> str:
        return transfer.corridor.token.caip19

    def get_amount_fee(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_fee, transfer.corridor.token.symbol))

    def get_amount_out(self, transfer: Transfer) -> str:
        return str(money_round(transfer.amount_out, transfer.currency_out))

    def get_rate(self, transfer: Transfer) -> str:
        return str(transfer.rate.normalize())

    def get_deposit(self, transfer: Transfer) -> dict:
        token = transfer.corridor.token
        return DepositInstructionsSerializer({
            "chain": token.chain.caip2, "asset": token.caip19,
            "address": transfer.deposit_address.address,
            "amount": str(money_round(transfer.amount_in, token.symbol)),
            "amount_base_units": str(transfer.amount_in_base_units),
            "expires_at": transfer.deposit_expires_at,
        }).data


class TransferListQuerySerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/transfers`` and its CSV export."""

    status = serializers.CharField(
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
