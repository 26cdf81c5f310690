"""Corridors, quotes, transfers and their audited history, and API idempotency records."""

import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models

from gateway.common.crypto import EncryptedJSONField
from gateway.common.models import BaseModel, MoneyField, TokenAmountField
from gateway.transfers.states import SENDER_STATUS, TransferState
from ramps.chain.validators import checksum_address_validator


def _pricing_errors(priced: "Corridor | PartnerPricing") -> dict[str, str]:
    """What no quote could honour in a corridor's or a partner's pricing (empty values are
    left to the corridor's): a rate outside [0, 1), a negative fixed fee."""
    errors: dict[str, str] = {}
    for name in ("fee_rate", "margin_rate"):
        value = getattr(priced, name)
        if value is not None and not 0 <= value < 1:
            errors[name] = "Between 0 (nothing) and 1 (the whole amount), 1 excluded."
    if priced.fee_fixed is not None and priced.fee_fixed < 0:
        errors["fee_fixed"] = "A fee cannot be negative."
    return errors


class Corridor(BaseModel):
    """A route from one stablecoin on one chain to one local currency through one payout rail."""

    code = models.SlugField(max_length=80, unique=True)
    token = models.ForeignKey("chain.Token", on_delete=models.PROTECT, related_name="corridors")
    currency_out = models.CharField(max_length=3, help_text="ISO 4217 code paid to the recipient")
    class PayoutMethod(models.TextChoices):
        MOBILE_MONEY = "mobile_money", "Mobile-money wallet through a payout rail"
        CASH_PICKUP = "cash_pickup", "Cash collected at a partner agent with a redemption code"

    payout_method = models.CharField(max_length=16, choices=PayoutMethod.choices,
                                     default=PayoutMethod.MOBILE_MONEY)
    rail = models.ForeignKey("payouts.Rail", on_delete=models.PROTECT, related_name="corridors",
                             null=True, blank=True,
                             help_text="Required for mobile money; unused for cash pickup")
    venue = models.ForeignKey("liquidity.Venue", on_delete=models.PROTECT, related_name="corridors")
    venue_symbol = models.CharField(max_length=20, help_text="ccxt market symbol, e.g. USDC/KES")
    fee_fixed = MoneyField(help_text="Fixed fee in the sell asset's units")
    fee_rate = models.DecimalField(max_digits=8, decimal_places=6, default=0,
                                   help_text="Proportional fee on amount_in (0.01 = 1%)")
    margin_rate = models.DecimalField(max_digits=8, decimal_places=6, default=0,
                                      help_text="Spread kept on the venue rate (0.005 = 0.5%)")
    min_amount_in = MoneyField(help_text="Smallest sell amount, in the sell asset's units")
    max_amount_in = MoneyField(help_text="Largest sell amount, in the sell asset's units")
    review_amount_in = MoneyField(
        null=True, blank=True,
        help_text="Transfers at or above this sell amount are held for manual review",
    )
    correction_window = models.DurationField(
        default=timedelta(hours=72),
        help_text="How long a failed payout waits for the sender's correction before it is "
                  "refunded automatically",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(payout_method="mobile_money", rail__isnull=True),
                name="corridor_mobile_money_has_rail",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        """Pricing and limits no quote could honour, refused when an operator saves the
        corridor: a fee or margin below nothing or of the whole amount (a negative fee sells
        more than was deposited), a largest amount below the smallest, a rail paying another
        currency than the corridor's."""
        errors = _pricing_errors(self)
        if (self.min_amount_in is not None and self.max_amount_in is not None
                and self.max_amount_in < self.min_amount_in):
            errors["max_amount_in"] = "The largest amount is below the smallest."
        if self.rail_id is not None and self.currency_out and (
                self.rail.currency != self.currency_out.upper()):
            errors["rail"] = (f"Rail {self.rail.code} pays {self.rail.currency}, not "
                              f"{self.currency_out}.")
        if errors:
            raise ValidationError(errors)


class PartnerPricing(BaseModel):
    """A partner's own fees and margin on one corridor; an empty value keeps the corridor's."""

    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE,
                                related_name="pricing")
    corridor = models.ForeignKey(Corridor, on_delete=models.CASCADE, related_name="pricing")
    fee_fixed = MoneyField(null=True, blank=True, help_text="Fixed fee in the sell asset's units")
    fee_rate = models.DecimalField(max_digits=8, decimal_places=6, null=True, blank=True,
                                   help_text="Proportional fee on amount_in (0.01 = 1%)")
    margin_rate = models.DecimalField(max_digits=8, decimal_places=6, null=True, blank=True,
                                      help_text="Spread kept on the venue rate (0.005 = 0.5%)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "corridor"],
                                    name="partner_pricing_once_per_corridor"),
            models.CheckConstraint(condition=models.Q(fee_rate__gte=0) | models.Q(
                fee_rate__isnull=True), name="partner_pricing_fee_rate_positive"),
            models.CheckConstraint(condition=models.Q(margin_rate__gte=0) | models.Q(
                margin_rate__isnull=True), name="partner_pricing_margin_positive"),
        ]
        verbose_name_plural = "partner pricing"

    def __str__(self) -> str:
        return f"{self.partner} on {self.corridor}"

    def clean(self) -> None:
        """The corridor's own rules for the values set here (an empty one keeps the
        corridor's)."""
        errors = _pricing_errors(self)
        if errors:
            raise ValidationError(errors)


class Quote(BaseModel):
    """A firm price for one transfer: usable once, until ``expires_at``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="quotes")
    corridor = models.ForeignKey(Corridor, on_delete=models.PROTECT, related_name="quotes")
    venue = models.ForeignKey("liquidity.Venue", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", help_text="Venue the router chose for this quote")
    sell_asset = models.CharField(max_length=12, help_text="Asset symbol, e.g. USDC")
    amount_in = MoneyField(help_text="What the sender deposits, in sell-asset units")
    amount_fee = MoneyField(help_text="Total fee, in sell-asset units (part of amount_in)")
    amount_out = MoneyField(help_text="What the recipient receives, in currency_out units")
    currency_out = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=30, decimal_places=12,
                               help_text="currency_out per sell-asset unit after margin")
    venue_rate = models.DecimalField(max_digits=30, decimal_places=12,
                                     help_text="Venue VWAP for the size, before margin")
    fee_details = models.JSONField(default=dict, help_text="Fee breakdown as decimal strings")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"quote {self.public_id}"


class HoldKind(models.TextChoices):
    """Why a transfer is on hold; several can stand at once."""

    COMPLIANCE = "compliance", "Compliance case: approve or reject"
    FLOAT = "float", "Rail float too low: released by a top-up"
    CONVERSION = "conversion", "Venue rejected or partly filled the order: release places a new one"
    UNDERPAID = "underpaid", "Underpaid when the window ended: refund, or accept at a new quote"
    REORG = "reorg", "Credited deposit left the chain: cancel, or clear once re-confirmed"


class Transfer(BaseModel):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT,
                                related_name="transfers")
    quote = models.OneToOneField(Quote, on_delete=models.PROTECT, related_name="transfer",
                                 help_text="One quote funds at most one transfer")
    corridor = models.ForeignKey(Corridor, on_delete=models.PROTECT, related_name="transfers")
    state = models.CharField(max_length=24, choices=TransferState.choices,
                             default=TransferState.AWAITING_DEPOSIT, db_index=True)
    state_changed_at = models.DateTimeField(db_index=True)
    external_id = models.CharField(max_length=100, blank=True,
                                   help_text="The partner's own reference")
    amount_in = MoneyField(help_text="Expected deposit, in sell-asset units")
    amount_in_base_units = TokenAmountField(help_text="Expected deposit, in token base units")
    amount_fee = MoneyField(help_text="Fee, in sell-asset units")
    amount_out = MoneyField(help_text="Payout to the recipient, in currency_out units")
    currency_out = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=30, decimal_places=12)
    deposit_address = models.OneToOneField("chain.DepositAddress", on_delete=models.PROTECT,
                                           related_name="transfer")
    deposit_expires_at = models.DateTimeField()
    amount_received_base_units = TokenAmountField(
        default=0, help_text="Credited deposits, in token base units"
    )
    sender = EncryptedJSONField(help_text="Sender identity (encrypted at rest)")
    recipient = EncryptedJSONField(help_text="Recipient identity and payout account (encrypted)")
    compliance_decision = models.ForeignKey(
        "compliance.ScreeningDecision", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    hold_reason = models.CharField(max_length=300, blank=True,
                                   help_text="Operators only: why the transfer is held")
    refund_address = models.CharField(
        max_length=42, blank=True, validators=[checksum_address_validator],
        help_text=(
            "EIP-55 address on the deposit's chain that refunds of this transfer go to; empty: "
            "the partner's default, else the paying address (or an operator, when that one is "
            "a contract or a known exchange wallet)."
        ),
    )
    payout_method = models.CharField(
        max_length=16, choices=Corridor.PayoutMethod.choices, blank=True,
        help_text="Set when the sender switched the payout method; empty = the corridor's",
    )
    advance_queued_until = models.DateTimeField(
        null=True, blank=True,
        help_text="An advance task is queued for this transfer until then: no duplicate is sent",
    )
    holds = models.JSONField(
        default=list, blank=True,
        help_text="Every reason the transfer is held (codes from HoldKind); it is released only "
                  "once each one is cleared",
    )
    # Keyed hashes of the parties for exact-match search (services/party_search.py); the
    # values themselves stay encrypted above.
    recipient_phone_index = models.CharField(max_length=64, blank=True, db_index=True,
                                             help_text="Blind index of the recipient's phone")
    recipient_name_index = models.CharField(max_length=64, blank=True, db_index=True,
                                            help_text="Blind index of the recipient's name")
    sender_name_index = models.CharField(max_length=64, blank=True, db_index=True,
                                         help_text="Blind index of the sender's name")

    class Meta:
        indexes = [
            models.Index(fields=["state", "state_changed_at"]),
            # The partner API lists a partner's transfers newest first (keyset pagination).
            models.Index(fields=["partner", "-created_at", "-public_id"],
                         name="transfer_partner_newest"),
        ]
        constraints = [
            # The partner's own reference finds one transfer; empty means "none given".
            models.UniqueConstraint(fields=["partner", "external_id"],
                                    condition=~models.Q(external_id=""),
                                    name="transfer_external_id_once_per_partner"),
        ]

    def __str__(self) -> str:
        return f"transfer {self.public_id} ({self.state})"

    @property
    def sender_status(self) -> str:
        return SENDER_STATUS[self.state]

    @property
    def reference(self) -> str:
        """The opaque reference handed to ramps and compliance (they never see this model)."""
        return str(self.public_id)


class TransferEvent(models.Model):
    """One row per state change: the transfer's timeline and audit trail."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=24, choices=TransferState.choices, blank=True)
    to_state = models.CharField(max_length=24, choices=TransferState.choices)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.CharField(max_length=120, default="system")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '-'} -> {self.to_state}"


class IdempotencyRecord(BaseModel):
    """An ``Idempotency-Key`` seen from one partner, with the answer it got."""

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "First request still being processed"
        COMPLETED = "completed", "Answered; replays return the stored response"

    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path, body")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_partner_key"),
        ]
