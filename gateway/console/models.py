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
        FAILED = "failed", "Confirmed by a second operator, refused when run (closed)"

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


class DashboardBucket(models.Model):
    """The dashboard's transfer figures for one corridor and one quarter hour of creation time
    (UTC), kept equal to a recount from the transfers by ``dashboard_summary_refresh``.

    Quarter hours because every time zone's offset is a multiple of 15 minutes: an operator's
    day in any zone is a whole number of buckets. PostgreSQL only (the demo's SQLite counts the
    transfers directly)."""

    bucket_start = models.DateTimeField(help_text="Start of the quarter hour (UTC)")
    corridor = models.ForeignKey("transfers.Corridor", on_delete=models.CASCADE,
                                 related_name="+")
    currency_out = models.CharField(max_length=3)
    transfers = models.PositiveIntegerField(help_text="Transfers created in the quarter hour")
    completed = models.PositiveIntegerField(help_text="Of them, completed")
    value_in = models.DecimalField(max_digits=60, decimal_places=18,
                                   help_text="Sum of amount_in, in sell-asset units")
    value_out = models.DecimalField(max_digits=60, decimal_places=18,
                                    help_text="Sum of amount_out of the completed ones, in "
                                              "currency_out units")
    fees = models.DecimalField(max_digits=60, decimal_places=18,
                               help_text="Sum of amount_fee of the completed ones, in "
                                         "sell-asset units")
    fx_spread = models.DecimalField(
        max_digits=60, decimal_places=30,
        help_text="Sum of amount_in - amount_fee - amount_out / venue_rate of the completed "
                  "ones, in sell-asset units, not yet rounded")
    cash_seconds = models.JSONField(
        default=dict, blank=True,
        help_text="Time to cash of the completed ones: {bin: count}, the bin being the seconds "
                  "cut to three significant digits (see gateway.console.summary)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket_start", "corridor",
                                                       "currency_out"],
                                               name="console_dashboard_bucket_once")]

    def __str__(self) -> str:
        return f"{self.corridor_id} {self.bucket_start:%Y-%m-%d %H:%M} UTC"


class PayoutBucket(models.Model):
    """Payout attempts per rail, outcome and corridor for one quarter hour of the attempts'
    creation time (UTC), kept equal to a recount by ``dashboard_summary_refresh``."""

    bucket_start = models.DateTimeField(help_text="Start of the quarter hour (UTC)")
    rail = models.ForeignKey("payouts.Rail", on_delete=models.CASCADE, related_name="+")
    corridor = models.ForeignKey("transfers.Corridor", null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="+",
                                 help_text="Of the transfer paid; empty for other owners")
    status = models.CharField(max_length=16)
    failure_kind = models.CharField(max_length=16, blank=True)
    result_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["bucket_start"])]

    def __str__(self) -> str:
        return f"{self.rail_id} {self.status} {self.bucket_start:%Y-%m-%d %H:%M} UTC"


class DashboardDirtyBucket(models.Model):
    """A quarter hour whose figures changed since the last refresh. Written only by database
    triggers on transfers and payout attempts (insert-only, so writers never wait for each
    other); ``dashboard_summary_refresh`` deletes what it recounts. A change committed while a
    refresh runs leaves its row for the next one, so nothing is missed."""

    bucket_start = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:%M} UTC"


class OperatorPreference(models.Model):
    """An operator's own settings: the time zone the console shows times and days in (times are
    stored in UTC; empty: CONSOLE_TIME_ZONE)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="console_preference")
    time_zone = models.CharField(max_length=64, blank=True,
                                 help_text="IANA name, e.g. Africa/Nairobi")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone or 'default zone'})"
