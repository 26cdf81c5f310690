"""Sanctions lists as loaded, and screening decisions with their reasons.

Lists are versioned: an import writes a new ``SanctionsList`` row with its entries and then
switches ``is_active`` in one transaction, so screening never sees half a list.
"""

import uuid

from django.db import models

from gateway.common.models import BaseModel


class SanctionsList(BaseModel):
    source = models.CharField(max_length=40,
                              help_text="ofac-sdn, ofac-crypto or un-consolidated")
    version = models.CharField(max_length=64, help_text="SHA-256 of the imported files")
    published = models.CharField(max_length=40, blank=True, help_text="Publish date, if known")
    entry_count = models.PositiveIntegerField(default=0, help_text="Listed parties")
    name_count = models.PositiveIntegerField(default=0, help_text="Names and aliases")
    address_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    replaced = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version of this source that was active when this one became active")
    token_counts = models.JSONField(
        default=dict, blank=True,
        help_text="Word frequencies of this version's names, counted at import for the "
                  "matcher's rarity: {entries, counts: {folded word: entries}}")
    rescreened_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When active customers were re-screened against what this version changed; "
                  "empty until then, and the next refresh run does it")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "version"], name="sanctions_source_version"),
            models.UniqueConstraint(fields=["source"], condition=models.Q(is_active=True),
                                    name="sanctions_one_active_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}@{self.version[:12]}"


class SanctionedName(models.Model):
    sanctions_list = models.ForeignKey(SanctionsList, on_delete=models.CASCADE,
                                       related_name="names")
    entry_id = models.CharField(max_length=40, help_text="The entry id the list publishes")
    name = models.CharField(max_length=400)
    normalized = models.CharField(max_length=400, db_index=True,
                                  help_text="Sorted, accent-free, lower-case name tokens")
    is_primary = models.BooleanField(default=True, help_text="False for an alias")
    entry_type = models.CharField(max_length=20, blank=True,
                                  help_text="individual, entity, vessel, aircraft")
    dates_of_birth = models.JSONField(
        default=list, blank=True,
        help_text="Of the entry: YYYY-MM-DD, YYYY-MM, YYYY or YYYY/YYYY (a range of years)")
    countries = models.JSONField(default=list, blank=True,
                                 help_text="Of the entry: ISO 3166-1 alpha-2 codes")
    gender = models.CharField(max_length=6, blank=True, default="",
                              help_text="Of the entry: male, female, or empty when not listed")

    def __str__(self) -> str:
        return f"{self.name} ({self.entry_id})"


class SanctionedAddress(models.Model):
    sanctions_list = models.ForeignKey(SanctionsList, on_delete=models.CASCADE,
                                       related_name="addresses")
    entry_id = models.CharField(max_length=40, blank=True)
    ticker = models.CharField(max_length=12, blank=True,
                              help_text="Label on the list; not matched on")
    address = models.CharField(max_length=200, help_text="As published")
    normalized = models.CharField(
        max_length=200, db_index=True,
        help_text="Lower-case for EVM (0x...) addresses, else as published",
    )

    def __str__(self) -> str:
        return self.address


class ScreeningWhitelist(BaseModel):
    """A false positive an operator cleared: one customer, one list entry, until it expires.

    Keyed by the list source and published entry id (not a list version), so it survives list
    refreshes that leave the entry alone; it lapses on ``expires_at``, or as soon as the active
    list changes the entry (``entry_fingerprint``: a new alias, date of birth or country is
    something the operator has not reviewed), and must then be reviewed again.
    """

    customer_reference = models.CharField(max_length=64,
                                          help_text="The customer's reference, as screened")
    list_source = models.CharField(max_length=40)
    entry_id = models.CharField(max_length=40, help_text="The entry id the list publishes")
    reason = models.TextField()
    author = models.CharField(max_length=120)
    expires_at = models.DateTimeField()
    entry_fingerprint = models.CharField(
        max_length=64, blank=True, default="",
        help_text="SHA-256 of the entry's names, dates of birth and countries as cleared; "
                  "empty for a whitelist added before fingerprints were kept (never lapses so)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_reference", "list_source", "entry_id"],
                                    name="whitelist_one_per_customer_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_reference} / {self.list_source}:{self.entry_id}"


class ScreeningDecision(BaseModel):
    """The recorded outcome of screening one transfer. Nothing is paid out without one."""

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approved: may be paid out"
        HOLD = "hold", "Held: an operator must review"
        REJECT = "reject", "Rejected: must not be paid out"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject_reference = models.CharField(max_length=64, db_index=True,
                                         help_text="Public id of the screened transfer")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reasons = models.JSONField(default=list, help_text="One object per rule that fired")
    rules_version = models.CharField(max_length=40)
    list_versions = models.JSONField(default=dict, help_text="source -> version used")
    decided_by = models.CharField(max_length=120, default="system",
                                  help_text="system, or the operator who decided a held case")
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    class Meta:
        constraints = [
            # A held decision is superseded at most once (one operator decision per case).
            models.UniqueConstraint(fields=["supersedes"], name="decision_superseded_once"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} ({self.subject_reference})"
