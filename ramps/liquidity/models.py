"""Liquidity venues (exchanges reached through ccxt) and the conversion orders placed on them."""

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from gateway.common.crypto import decrypt_text, encrypt_text
from gateway.common.models import BaseModel, MoneyField


def _validate_exchange_id(value: str) -> None:
    from .client import exchange_id_known  # the client imports these models

    if not exchange_id_known(value):
        raise ValidationError(f"{value!r} is not a ccxt exchange id.")


class EncryptedTextField(models.TextField):
    """Text stored encrypted with the project's field keys (``gateway.common.crypto``), so that a
    database dump does not hand out venue credentials. The attribute is the plaintext; an empty
    value stays empty. Not searchable, by design."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt_text(value)


class Venue(BaseModel):
    """An exchange account the gateway converts on.

    ``api_secret`` (and ``api_key``) are credentials: they are never logged, never shown in admin
    lists, and ``__str__``/``__repr__`` leave them out.
    """

    name = models.SlugField(max_length=64, unique=True)
    exchange_id = models.CharField(
        max_length=64, validators=[_validate_exchange_id],
        help_text="Id of the ccxt exchange class, e.g. 'luno'.",
    )
    api_base_url = models.URLField(
        blank=True,
        help_text="Origin that replaces the exchange's own API host (a sandbox); blank = the "
                  "exchange's real URL.",
    )
    api_key = models.CharField(max_length=255, blank=True)
    api_secret = EncryptedTextField(blank=True)
    is_active = models.BooleanField(default=True)
    taker_fee_rate = models.DecimalField(
        max_digits=10, decimal_places=8, default=Decimal("0"),
        help_text="Fraction of the traded value the venue charges a taker (0.002 = 0.2 %).",
    )
    min_order_base = MoneyField(
        null=True, blank=True,
        help_text="Smallest order the router sends here, in the base asset; blank = no floor.")
    max_order_base = MoneyField(
        null=True, blank=True,
        help_text="Largest order the router sends here, in the base asset (a risk limit per "
                  "venue); blank = no cap beyond the book's depth.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Venue {self.name} ({self.exchange_id})>"


def new_client_order_id() -> str:
    """Luno accepts letters, digits and ``_;,.-`` up to 255 characters; most venues accept this
    shape (32 hex digits with a prefix) too."""
    return f"gw-{uuid.uuid4().hex}"


class ConversionOrder(BaseModel):
    """One conversion of a base asset (USDC) into a quote currency (KES) or back, on one venue.

    The row, with its ``client_order_id``, is committed before the order is sent, so that a
    crash or a timeout is resolved by looking the order up at the venue, never by sending it again.
    """

    class Side(models.TextChoices):
        SELL = "sell", "Sell the base asset"
        BUY = "buy", "Buy the base asset"

    class Status(models.TextChoices):
        # Stored, not sent yet. The only status from which an order may be sent.
        CREATED = "created", "Created"
        # Sent (or being sent) and no answer recorded yet: the outcome is unknown until the venue
        # is asked by client_order_id. Never sent again from here.
        UNKNOWN = "unknown", "Unknown outcome"
        # The venue holds it and it may still fill (a resting limit order).
        OPEN = "open", "Open at the venue"
        # Closed at the venue with the whole amount filled.
        FILLED = "filled", "Filled"
        # Closed at the venue with only part of the amount filled (depth ran out, or the rest was
        # cancelled); the fill fields say how much.
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        # Refused by the venue, or closed with nothing filled. No fills, nothing to undo.
        REJECTED = "rejected", "Rejected"

    FINAL_STATUSES = frozenset({Status.FILLED, Status.PARTIALLY_FILLED, Status.REJECTED})

    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="conversion_orders")
    client_order_id = models.CharField(max_length=64, unique=True, default=new_client_order_id,
                                       editable=False)
    reference = models.CharField(
        max_length=128, unique=True,
        help_text="Opaque reference of the owner (e.g. the transfer's public id); one order each.",
    )
    symbol = models.CharField(max_length=32, help_text="ccxt unified symbol, e.g. 'USDC/KES'.")
    side = models.CharField(max_length=4, choices=Side.choices)
    amount_base = MoneyField(help_text="Amount to convert, in the base asset (USDC for USDC/KES).")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED,
                              db_index=True)
    venue_order_id = models.CharField(max_length=128, blank=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True,
                                        help_text="When the order was (last) handed to the venue.")
    filled_base = MoneyField(default=Decimal("0"), help_text="Base asset filled, as the venue "
                                                             "reported it.")
    filled_quote = MoneyField(default=Decimal("0"), help_text="Quote currency filled (gross, "
                                                              "before fees), as reported.")
    average_price = MoneyField(null=True, blank=True,
                               help_text="filled_quote / filled_base, quote units per base unit.")
    fee_quote = MoneyField(default=Decimal("0"), help_text="Fee charged in the quote currency.")
    fee_base = MoneyField(default=Decimal("0"), help_text="Fee charged in the base asset.")
    raw = models.JSONField(default=dict, blank=True,
                           help_text="The venue's last answer about this order, as received.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.amount_base} {self.symbol} ({self.status})"

    @property
    def base_currency(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote_currency(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]


class FxReferenceRate(BaseModel):
    """A reference exchange rate from an outside source (a central bank fixing, a rates feed),
    used to cross a venue price into a currency no venue quotes (USDC/USD x USD/KES).

    One row per pair, overwritten by each observation; ``observed_at`` is the source's own time,
    and a rate older than ``LIQUIDITY_FX_MAX_AGE_SECONDS`` is never used.
    """

    base = models.CharField(max_length=12, help_text="Currency priced (USD in USD/KES).")
    quote = models.CharField(max_length=12, help_text="Currency it is priced in (KES).")
    rate = MoneyField(help_text="Units of quote per one unit of base.")
    source = models.CharField(max_length=64)
    observed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["base", "quote"],
                                               name="fx_reference_one_per_pair")]

    def __str__(self) -> str:
        return f"{self.base}/{self.quote} {self.rate} ({self.source})"


class LiquidityReservation(BaseModel):
    """Venue depth held for a firm quote, so that two firm quotes do not promise the same
    levels of a book. Reserved depth is skipped when the router prices the next quote.

    Used once: the first ``consume`` wins; expires server-side at ``expires_at`` whatever the
    client asked for beyond the cap.
    """

    class Status(models.TextChoices):
        # Holding depth until expires_at.
        ACTIVE = "active", "Active"
        # Used by the transfer that accepted the quote; holds nothing any more.
        CONSUMED = "consumed", "Consumed"
        # Given back before expiry (quote withdrawn, transfer failed).
        RELEASED = "released", "Released"
        # Reached expires_at unused.
        EXPIRED = "expired", "Expired"

    quote_reference = models.CharField(max_length=128, unique=True,
                                       help_text="The firm quote's reference; one reservation "
                                                 "each.")
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="reservations")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=ConversionOrder.Side.choices)
    amount_base = MoneyField(help_text="Depth held, in the base asset.")
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE,
                              db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["venue", "symbol", "side", "status"],
                                name="reservation_depth_idx")]

    def __str__(self) -> str:
        return f"{self.amount_base} {self.symbol} on {self.venue} ({self.status})"
