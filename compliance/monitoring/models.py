"""Transaction-monitoring rules (data, versioned), the transfers they watched, and evaluations.

A rule row is never edited in place: a change writes the next version of the same code and makes
it the current one, so every evaluation names the exact rule versions that scored it.
"""

from django.db import models

from gateway.common.models import BaseModel, MoneyField


class MonitoringRule(BaseModel):
    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Threshold: USD amount reaches amount_usd"
        VELOCITY_COUNT = "velocity_count", "Velocity: more than max_count transfers in the window"
        VELOCITY_SUM = "velocity_sum", "Velocity: more than max_sum_usd in the window"
        STRUCTURING = "structuring", "Structuring: min_count amounts just under a threshold"
        ROUND_AMOUNT = "round_amount", "Round amount: a multiple of `multiple`"
        NEW_RECIPIENT = "new_recipient", "New recipient: first transfer sender -> recipient"
        MANY_SENDERS = "many_senders", "Many senders: more than max_senders to one recipient"
        CORRIDOR_RISK = "corridor_risk", "Corridor risk: fires on the corridors it is enabled for"
        TIER_LIMIT = "tier_limit", "Tier limits: sender's KYC tier limits exceeded"

    code = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=300, blank=True)
    params = models.JSONField(default=dict, blank=True,
                              help_text="Kind-specific parameters (see the rule kinds)")
    score = models.PositiveIntegerField(help_text="Added to the total when the rule fires")
    corridor_codes = models.JSONField(default=list, blank=True,
                                      help_text="Corridor codes it applies to; empty: all")
    is_enabled = models.BooleanField(default=True)
    is_current = models.BooleanField(default=True, editable=False,
                                     help_text="The version in force for this code")
    author = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="monitoring_rule_version"),
            models.UniqueConstraint(fields=["code"], condition=models.Q(is_current=True),
                                    name="monitoring_rule_one_current"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class MonitoredTransfer(BaseModel):
    """The facts of one transfer as monitoring saw them: velocity and structuring queries run on
    this table, not on the gateway's."""

    reference = models.CharField(max_length=64, unique=True, help_text="Transfer public id")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    corridor_code = models.SlugField(max_length=80)
    amount = MoneyField(help_text="Amount in `currency`")
    currency = models.CharField(max_length=12)
    amount_usd = MoneyField(help_text="USD equivalent of the amount")
    sender_reference = models.CharField(max_length=64, db_index=True)
    recipient_reference = models.CharField(max_length=64, db_index=True)
    paying_address = models.CharField(max_length=128, blank=True, db_index=True,
                                      help_text="Lower-case for EVM addresses")
    device_id = models.CharField(max_length=128, blank=True, db_index=True)
    occurred_at = models.DateTimeField(db_index=True, help_text="When the transfer was created")

    def __str__(self) -> str:
        return self.reference


class MonitoringEvaluation(BaseModel):
    class Stage(models.TextChoices):
        CREATED = "created", "At transfer creation"
        DEPOSIT_CONFIRMED = "deposit_confirmed", "At deposit confirmation"

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approve"
        REVIEW = "review", "Review by an operator"
        REJECT = "reject", "Reject"

    transfer = models.ForeignKey(MonitoredTransfer, on_delete=models.CASCADE,
                                 related_name="evaluations")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    score = models.PositiveIntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reasons = models.JSONField(default=list)
    rule_versions = models.JSONField(default=dict, help_text="rule code -> version evaluated")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["transfer", "stage"],
                                               name="monitoring_evaluated_once_per_stage")]
