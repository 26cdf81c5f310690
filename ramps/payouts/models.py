"""Payout rails and the facts recorded about each payout: attempts and provider callbacks.

The gateway decides when a transfer is paid out; this app records what was asked of a provider and
what the provider answered, so that every payment can be traced to exactly one reference.
"""

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from gateway.common.models import BaseModel, MoneyField
from gateway.common.money import currency_exponent


class Rail(BaseModel):
    """A configured way to pay out: one provider account in one country and currency."""

    class Kind(models.TextChoices):
        MPESA_B2C = "mpesa_b2c", "M-Pesa Daraja B2C"
        MOMO_DISBURSEMENT = "momo_disbursement", "MTN MoMo Disbursement"

    code = models.SlugField(max_length=40, unique=True, help_text="Stable name, e.g. mpesa-ke.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 of the recipients.")
    currency = models.CharField(max_length=3, help_text="ISO 4217 code paid out.")
    base_url = models.URLField(max_length=300)
    credentials = models.JSONField(
        default=dict, blank=True,
        help_text=(
            "Daraja: consumer_key, consumer_secret, shortcode, initiator_name, initiator_password, "
            "certificate_pem, command_id. MoMo: api_user, api_key, subscription_key, "
            "target_environment."
        ),
    )
    min_amount = MoneyField(help_text="Smallest payout, in units of currency.")
    max_amount = MoneyField(help_text="Largest payout, in units of currency.")
    amount_exponent = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Decimal places the provider accepts; empty means the currency's own. M-Pesa "
                  "pays whole shillings (0): amounts are rounded down to it.")
    retry_backoff_seconds = models.PositiveIntegerField(
        default=30, help_text="Wait before the first retry of a retryable failure; doubles each "
                              "time.")
    retry_deadline_seconds = models.PositiveIntegerField(
        default=6 * 3600, help_text="No retry is started later than this after the first attempt "
                                    "of a payout; the payout then fails for an operator.")
    unsettled_review_seconds = models.PositiveIntegerField(
        default=1800,
        help_text="A payout the provider still reports pending (or cannot report on) this long "
                  "after it was sent is put before an operator; the status queries go on, and "
                  "nothing is sent again until the provider says it was not paid.")
    is_active = models.BooleanField(default=True)
    # The provider's callbacks are authenticated by a secret in the callback URL (neither Daraja
    # nor MoMo signs them). Stored encrypted (gateway.common.crypto) because the gateway has to
    # put it back into every ResultURL it sends; set and rotated only by
    # ``rail_callback_secret_rotate``, never shown in the admin.
    callback_secret = models.TextField(
        blank=True, editable=False,
        help_text="Current callback URL secret, encrypted; empty until the first rotation.")
    callback_secret_previous = models.TextField(
        blank=True, editable=False,
        help_text="The secret before the last rotation, encrypted; accepted until "
                  "callback_secret_previous_until so that requests already sent with it can "
                  "still be answered.")
    callback_secret_previous_until = models.DateTimeField(null=True, blank=True, editable=False)
    callback_secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        """Settings no payout could honour, refused when an operator saves the rail: more
        decimal places than the currency has, a largest payout below the smallest."""
        errors: dict[str, str] = {}
        try:
            places = currency_exponent(self.currency)
        except ValueError as exc:
            errors["currency"] = str(exc)
        else:
            if self.amount_exponent is not None and self.amount_exponent > places:
                errors["amount_exponent"] = (
                    f"{self.currency} has {places} decimal places; a rail cannot pay finer "
                    "amounts.")
        if (self.min_amount is not None and self.max_amount is not None
                and self.max_amount < self.min_amount):
            errors["max_amount"] = "The largest payout is below the smallest."
        if errors:
            raise ValidationError(errors)


class RailFloatReport(BaseModel):
    """A balance the provider reported for the rail's account, kept as evidence for the float
    reconciliation (the ledger says what the float should be; this says what the provider says)."""

    class Source(models.TextChoices):
        RESULT = "result", "Payment result"
        BALANCE = "balance", "Balance request"

    rail = models.ForeignKey(Rail, on_delete=models.PROTECT, related_name="float_reports")
    amount = MoneyField(help_text="Available balance, in units of currency.")
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=16, choices=Source.choices)
    reference = models.CharField(max_length=64, blank=True,
                                 help_text="Payout reference of the result that carried it.")
    raw = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.rail_id}: {self.amount} {self.currency} ({self.source})"


class PayoutAttempt(BaseModel):
    """One request to a provider to pay one recipient, under one idempotency reference."""

    class Status(models.TextChoices):
        # Stored with its reference, nothing sent yet; may be sent.
        CREATED = "created", "Created"
        # The provider accepted the request; its final result is awaited.
        SUBMITTED = "submitted", "Submitted"
        # The provider confirmed the money reached the recipient. Final.
        SUCCEEDED = "succeeded", "Succeeded"
        # The provider confirmed nothing was paid. Final; a new attempt may follow.
        FAILED = "failed", "Failed"
        # The request may or may not have been processed (timeout, dropped connection, crash
        # while sending). Resolved only by asking the provider, never by sending again.
        UNKNOWN = "unknown", "Outcome unknown"

    class FailureKind(models.TextChoices):
        # A new attempt may succeed later (provider busy or unavailable).
        RETRYABLE = "retryable", "Retryable"
        # The same payout will never succeed (recipient invalid or not registered).
        FINAL = "final", "Final"
        # Something on the operator's side must change first (float, credentials, configuration).
        NEEDS_OPERATOR = "needs_operator", "Needs an operator"

    LIVE_STATUSES = (Status.CREATED, Status.SUBMITTED, Status.SUCCEEDED, Status.UNKNOWN)
    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    rail = models.ForeignKey(Rail, on_delete=models.PROTECT, related_name="attempts")
    reference = models.CharField(
        max_length=64, unique=True,
        help_text="Idempotency reference sent to the provider (Daraja OriginatorConversationID, "
                  "MoMo X-Reference-Id and externalId).",
    )
    owner_reference = models.CharField(
        max_length=64, db_index=True, help_text="Opaque id of what is paid (the transfer's id).")
    amount = MoneyField(help_text="Amount paid to the recipient, in units of currency.")
    currency = models.CharField(max_length=3)
    recipient_msisdn = models.CharField(max_length=16, help_text="E.164, with the plus sign.")
    remarks = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED,
                              db_index=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, blank=True)
    provider_reference = models.CharField(
        max_length=64, blank=True,
        help_text="Daraja ConversationID or MoMo financialTransactionId.")
    provider_receipt = models.CharField(
        max_length=64, blank=True, help_text="Receipt the recipient sees (M-Pesa TransactionID).")
    result_code = models.CharField(max_length=64, blank=True)
    result_description = models.TextField(blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A retry is not sent before this time (backoff).")
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    raw_result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_reference"],
                condition=Q(status__in=["created", "submitted", "succeeded", "unknown"]),
                name="payouts_one_live_attempt_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class PayoutCallback(BaseModel):
    """A provider notification exactly as received, with what processing made of it."""

    class ProcessingStatus(models.TextChoices):
        # Stored, not processed yet (or processing stopped before the end).
        RECEIVED = "received", "Received"
        # Changed its attempt.
        APPLIED = "applied", "Applied"
        # Matched an attempt that already had this or a final result: changed nothing.
        DUPLICATE = "duplicate", "Duplicate"
        # No attempt has this reference: kept for the operator, never trusted.
        UNMATCHED = "unmatched", "Unmatched"
        # Could not be parsed or applied; see error.
        ERROR = "error", "Error"
        # Reports a failure (or a success that cannot be tied to the request): held until the
        # provider's status query confirms it, because a failure may lead to a new payment.
        UNCONFIRMED = "unconfirmed", "Awaiting the provider's confirmation"

    rail = models.ForeignKey(Rail, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="callbacks")
    attempt = models.ForeignKey(PayoutAttempt, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="callbacks")
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    body = models.JSONField(
        encoder=DjangoJSONEncoder,
        help_text="The parsed body; a NUL character (which PostgreSQL text cannot hold) is "
                  "replaced by U+FFFD here and kept as it came in raw_body; decimal numbers are "
                  "kept exact, as strings.")
    raw_body = models.BinaryField(null=True, blank=True,
                                  help_text="The request body exactly as received.")
    headers = models.JSONField(default=dict, blank=True)
    processing_status = models.CharField(max_length=16, choices=ProcessingStatus.choices,
                                         default=ProcessingStatus.RECEIVED)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"callback {self.pk} {self.reference} ({self.processing_status})"


class PayoutAttemptEvent(BaseModel):
    """One status change of an attempt: the audit trail an operator reads to see what happened
    and why (which answer, callback or query moved it)."""

    attempt = models.ForeignKey(PayoutAttempt, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=PayoutAttempt.Status.choices)
    to_status = models.CharField(max_length=16, choices=PayoutAttempt.Status.choices)
    source = models.CharField(max_length=32, help_text="submit, release, callback or query.")
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.attempt_id}: {self.from_status} -> {self.to_status} ({self.source})"


class PayoutStatusQuery(BaseModel):
    """A status query sent to a provider whose answer arrives later as a callback (Daraja).

    The nonce is stored (committed) before the query leaves and the provider echoes it back
    (Daraja's ``Occasion``), so an answer is trusted only if it carries the nonce of a query this
    gateway sent for that attempt: a forged "status answer" cannot settle a payout.
    """

    attempt = models.ForeignKey(PayoutAttempt, on_delete=models.CASCADE,
                                related_name="status_queries")
    nonce = models.CharField(max_length=32, unique=True)
    provider_reference = models.CharField(
        max_length=64, blank=True, help_text="The provider's id of the query (its ConversationID).")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"status query {self.nonce} for {self.attempt_id}"
