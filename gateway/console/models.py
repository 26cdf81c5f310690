"""The audit log: one row per operator action and per sign-in, never changed or deleted.

Append-only is enforced three times: the model refuses to save an existing row or delete one,
the admin offers no change or delete, and the database itself (a trigger created by the
migration) refuses UPDATE and DELETE on the table.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from gateway.common.audit import AuditOutcome


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise TypeError("Audit events are append-only: they cannot be deleted.")


class AuditEvent(models.Model):
    """Who did what to which object, when, from where, why, and what it looked like before and
    after."""

    Outcome = AuditOutcome

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                              help_text="The account (kept as a plain id: the row outlives it)")
    actor_username = models.CharField(max_length=150, db_index=True,
                                      help_text="The username as typed or signed in")
    action = models.CharField(max_length=80, db_index=True,
                              help_text="Dotted name, e.g. transfers.approve_hold")
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.DONE)
    object_type = models.CharField(max_length=80, blank=True,
                                   help_text="app_label.model of the object acted on")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    subject_reference = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="Public id of the transfer the action belongs to, if any")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    detail = models.TextField(blank=True, help_text="What the service answered")
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        permissions = [
            ("view_dashboard", "See the dashboard and the Needs-attention queue"),
            ("export_auditevent", "Export the audit log as CSV"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.object_repr}".strip()

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit events are append-only: an existing row cannot be saved.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be deleted.")


class PendingApproval(models.Model):
    """Maker-checker for an operator action that moves money: the first operator's request
    waits here until a second operator with the same permission runs the same action on the
    same object with the same parameters; only then does the action run."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second operator"
        CONFIRMED = "confirmed", "Confirmed and run by a second operator"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True,
                              help_text="Choices the maker made (a rail...)")
    reason = models.TextField()
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+")
    checker = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(
            fields=["action", "object_type", "object_id"],
            condition=models.Q(status="pending"), name="console_one_pending_approval")]

    def __str__(self) -> str:
        return f"{self.action} on {self.object_repr} by {self.maker} ({self.status})"
