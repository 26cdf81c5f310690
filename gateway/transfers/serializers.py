"""Request validation and response shapes of the partner API. Amounts are decimal strings."""

from rest_framework import serializers

from gateway.common.money import money_round
from gateway.transfers.models import Quote, Transfer


class DecimalStringField(serializers.CharField):
    """A money amount as a JSON string ("100.50"); JSON numbers are refused (floats lose cents)."""

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
        from gateway.agents.apis import cash_pickup_payload
        from gateway.agents.models import Redemption

        return cash_pickup_payload(redemption=Redemption.objects.filter(
            transfer=transfer).first())

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
