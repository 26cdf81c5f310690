"""Customers submitted by partners (SEP-12 style) and the KYC tiers that bound what they may send.

Personal data lives in one encrypted column (``Customer.fields``, key id stored with the value);
exact-match lookups go through keyed hashes (``*_index`` columns, see ``blind_index.py``), so no
query ever decrypts the table.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import models

from compliance.kyc.fields import BUSINESS_FIELDS, NATURAL_PERSON_FIELDS
from gateway.common.crypto import EncryptedJSONField
from gateway.common.models import BaseModel, MoneyField


def _validate_field_names(names, known: dict) -> None:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValidationError("A JSON list of field names is required.")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(unknown)}. Known: {', '.join(known)}.")


class KycTier(BaseModel):
    """A verification level: which fields a customer must provide and what it may then send.

    Operators edit tiers in the admin; no deploy. Limits are USD equivalents; an empty limit means
    no limit at that level. A ``KycTierCorridorLimit`` row narrows them for one corridor.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    level = models.PositiveSmallIntegerField(unique=True, help_text="Higher level, more trust")
    natural_person_fields = models.JSONField(
        default=list, blank=True, help_text="Fields a natural person must provide (SEP-12 names)")
    business_fields = models.JSONField(
        default=list, blank=True, help_text="Fields a business must provide (SEP-12 names)")
    limit_per_transfer_usd = MoneyField(null=True, blank=True,
                                        help_text="USD equivalent per transfer")
    limit_per_day_usd = MoneyField(null=True, blank=True,
                                   help_text="USD equivalent over any 24 hours")
    limit_per_30_days_usd = MoneyField(null=True, blank=True,
                                       help_text="USD equivalent over any 30 days")

    class Meta:
        ordering = ["level"]
        verbose_name = "KYC tier"

    def clean(self) -> None:
        errors = {}
        for attribute, known in (("natural_person_fields", NATURAL_PERSON_FIELDS),
                                 ("business_fields", BUSINESS_FIELDS)):
            try:
                _validate_field_names(getattr(self, attribute), known)
            except ValidationError as exc:
                errors[attribute] = exc.messages
        if errors:
            raise ValidationError(errors)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class KycTierCorridorLimit(BaseModel):
    """Limits of one tier on one corridor (by corridor code); they replace the tier's own."""

    tier = models.ForeignKey(KycTier, on_delete=models.CASCADE, related_name="corridor_limits")
    corridor_code = models.SlugField(max_length=80)
    limit_per_transfer_usd = MoneyField(null=True, blank=True,
                                        help_text="USD equivalent per transfer")
    limit_per_day_usd = MoneyField(null=True, blank=True,
                                   help_text="USD equivalent over any 24 hours")
    limit_per_30_days_usd = MoneyField(null=True, blank=True,
                                       help_text="USD equivalent over any 30 days")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tier", "corridor_code"],
                                               name="kyc_tier_corridor_once")]
        verbose_name = "KYC tier corridor limit"

    def __str__(self) -> str:
        return f"{self.tier.code} on {self.corridor_code}"


class Customer(BaseModel):
    """A sender or recipient that a partner registered. ``status`` follows SEP-12."""

    class Role(models.TextChoices):
        SENDER = "sender", "Sender (pays in)"
        RECIPIENT = "recipient", "Recipient (is paid out)"

    class Kind(models.TextChoices):
        NATURAL_PERSON = "natural_person", "Natural person"
        BUSINESS = "business", "Business"

    class Status(models.TextChoices):
        NEEDS_INFO = "needs_info", "Needs info: fields of the tier are missing"
        PROCESSING = "processing", "Processing: complete, waiting for a compliance review"
        ACCEPTED = "accepted", "Accepted: may transact within the tier's limits"
        REJECTED = "rejected", "Rejected: may not transact; final"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT,
                                related_name="customers")
    external_id = models.CharField(max_length=120, help_text="The partner's own reference")
    role = models.CharField(max_length=12, choices=Role.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    tier = models.ForeignKey(KycTier, on_delete=models.PROTECT, related_name="customers")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEEDS_INFO)
    status_message = models.CharField(max_length=300, blank=True,
                                      help_text="Shown to the partner (no personal data)")
    fields = EncryptedJSONField(default=dict, help_text="Personal data (encrypted at rest)")
    name_index = models.CharField(max_length=64, blank=True, db_index=True,
                                  help_text="Keyed hash of the normalised full name")
    name_birth_date_index = models.CharField(max_length=64, blank=True, db_index=True,
                                             help_text="Keyed hash of name and date of birth")
    id_number_index = models.CharField(max_length=64, blank=True, db_index=True,
                                       help_text="Keyed hash of country, document type, number")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True,
                                   help_text="Keyed hash of the E.164 phone number")
    reviewed_by = models.CharField(max_length=150, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True,
                                     help_text="When its erasure was asked (a data subject's "
                                               "request); it takes no more submissions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "role", "external_id"],
                                               name="kyc_customer_partner_reference")]

    def __str__(self) -> str:
        return f"{self.role} {self.public_id} ({self.status})"


class CustomerEvent(BaseModel):
    """Audit trail of a customer: every submission and every status change (no personal data)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    changed_fields = models.JSONField(default=list, help_text="Names only, never values")
    actor = models.CharField(max_length=150, help_text="partner:<name> or the operator")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]


class CustomerDocument(BaseModel):
    """A document a partner uploaded for a customer (an ID image, a proof of address...).

    The bytes are kept encrypted (``content``, base64 inside the encrypted JSON value, under the
    same keys and rotation as every other personal value) and never sent back through the API.
    ``status`` is the document's own review (SEP-12 field statuses); an erased document keeps
    only its kind, type, size and review, with ``content`` and ``digest`` emptied.
    """

    class Kind(models.TextChoices):
        PHOTO_ID_FRONT = "photo_id_front", "Identity document, front"
        PHOTO_ID_BACK = "photo_id_back", "Identity document, back"
        NOTARY_APPROVAL_OF_PHOTO_ID = "notary_approval_of_photo_id", "Notarised identity document"
        PHOTO_PROOF_RESIDENCE = "photo_proof_residence", "Proof of residence"
        PROOF_OF_INCOME = "proof_of_income", "Proof of income"
        PROOF_OF_LIVENESS = "proof_of_liveness", "Proof of liveness (selfie)"
        ORGANIZATION_REGISTRATION = ("organization.photo_incorporation_doc",
                                     "Certificate of incorporation")

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing: waiting for a compliance review"
        ACCEPTED = "accepted", "Accepted by a compliance operator"
        REJECTED = "rejected", "Rejected by a compliance operator (see status_message)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=48, choices=Kind.choices)
    content_type = models.CharField(max_length=40, help_text="Detected from the bytes")
    size_bytes = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, blank=True,
                              help_text="Keyed hash of the bytes (a re-sent file is the same "
                                        "document); emptied on erasure")
    content = EncryptedJSONField(null=True, blank=True,
                                 help_text="The file, base64, encrypted at rest; null once erased")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    status_message = models.CharField(max_length=300, blank=True,
                                      help_text="Shown to the partner (no personal data)")
    reviewed_by = models.CharField(max_length=150, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(
            fields=["customer", "kind", "digest"], condition=~models.Q(digest=""),
            name="kyc_document_once_per_content")]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id} ({self.status})"


class CustomerErasure(BaseModel):
    """One erasure request (a data subject's, through the partner) and what came of it.

    ``erased`` names what was removed; ``kept`` names what the law makes the gateway keep, each
    with its reason code and, for record keeping, the day it may go (``retained_until``). When
    that day comes the rest is erased and ``completed_at`` is set. Never deleted.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="erasures")
    requested_by = models.CharField(max_length=150, help_text="partner:<id> or an operator")
    reason = models.CharField(max_length=300)
    erased = models.JSONField(default=list, help_text="Items removed (names, never values)")
    kept = models.JSONField(default=list, help_text="Items kept: item, reason, retained_until")
    retained_until = models.DateTimeField(null=True, blank=True,
                                          help_text="When the kept records may be erased "
                                                    "(null: until a legal hold ends)")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"erasure {self.public_id} of {self.customer_id}"
