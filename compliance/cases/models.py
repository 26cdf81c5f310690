"""Operator cases for held transfers: queue, assignment, notes, attachments, maker-checker.

Every action writes a ``CaseEvent``; the case row only holds the current state.
"""

import uuid

from django.conf import settings
from django.db import models

from gateway.common.models import BaseModel


class Case(BaseModel):
    class Status(models.TextChoices):
        OPEN = "open", "Open: waiting in the queue"
        IN_REVIEW = "in_review", "In review: assigned to an operator"
        PENDING_CONFIRMATION = "pending_confirmation", "Proposed: a second operator must confirm"
        CLOSED = "closed", "Closed: the superseding decision is recorded"

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approve: resume the transfer"
        REJECT = "reject", "Reject: refund the transfer"

    class Label(models.TextChoices):
        FALSE_POSITIVE = "false_positive", "False positive"
        RISK_CONFIRMED = "risk_confirmed", "Risk confirmed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject_reference = models.CharField(max_length=64, db_index=True,
                                         help_text="Public id of the held transfer")
    decision = models.OneToOneField("compliance.ScreeningDecision", on_delete=models.PROTECT,
                                    related_name="case", help_text="The held decision")
    reasons = models.JSONField(default=list, help_text="Why the transfer was held")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    proposed_outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    proposed_label = models.CharField(max_length=16, choices=Label.choices, blank=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    outcome_label = models.CharField(max_length=16, choices=Label.choices, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    resolution = models.OneToOneField("compliance.ScreeningDecision", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="+",
                                      help_text="The superseding decision")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"case {self.public_id} ({self.status})"


class CaseEvent(BaseModel):
    """One action on a case, in order: the audit trail (never edited or deleted)."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ASSIGNED = "assigned", "Assigned"
        NOTE = "note", "Note added"
        ATTACHMENT = "attachment", "Attachment added"
        PROPOSED = "proposed", "Outcome proposed"
        PROPOSAL_RETURNED = "proposal_returned", "Proposal returned by the checker"
        CONFIRMED = "confirmed", "Outcome confirmed"
        EXPORTED = "exported", "Suspicious-activity report exported"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.CharField(max_length=150)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]


class CaseAttachment(BaseModel):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to="cases/%Y/%m/")
    description = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, help_text="Digest of the file as uploaded")
    uploaded_by = models.CharField(max_length=150)

    def __str__(self) -> str:
        return self.file.name
