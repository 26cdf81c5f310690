"""Agent networks, their agents and staff, redemption codes and the audit of every lookup.

A cash-pickup transfer gets one ``Redemption``: the code the recipient shows at the counter is
stored only as an HMAC (``code_hash``); a reissue replaces the hash, so the old code stops
working. Value moves in the ledger (agent float, commission), never in these rows.
"""

import uuid

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from gateway.common.crypto import EncryptedJSONField
from gateway.common.models import BaseModel, MoneyField


class AgentNetwork(BaseModel):
    """A partner company (a retail chain, a bank, a money-transfer operator) whose agents pay
    out cash on the gateway's behalf."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.SlugField(max_length=40, unique=True,
                            help_text="Short name used in ledger account codes")
    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class AgentNetworkAPIKey(AbstractAPIKey):
    """Key of a network's point-of-sale integration: a public prefix plus a hashed secret."""

    network = models.ForeignKey(AgentNetwork, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "agent network API key"
        verbose_name_plural = "agent network API keys"


class Agent(BaseModel):
    """One counter of a network (a shop, a kiosk, a branch) that holds a cash float."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active: may look up and pay out codes"
        SUSPENDED = "suspended", "Suspended: no lookups, no payouts"

    network = models.ForeignKey(AgentNetwork, on_delete=models.PROTECT, related_name="agents")
    code = models.SlugField(max_length=40, help_text="Unique within the network")
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=300, help_text="Street address shown to recipients")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of the cash it pays")
    timezone = models.CharField(max_length=64, default="UTC",
                                help_text="IANA time zone of the opening hours")
    opening_hours = models.JSONField(
        default=dict, blank=True,
        help_text='Per weekday, local opening intervals: {"mon": [["08:00", "18:00"]], ...}. '
        "Empty: always open.",
    )
    limit_per_payout = MoneyField(help_text="Largest single payout, in the agent's currency")
    limit_per_day = MoneyField(help_text="Largest total paid out per local day, in its currency")
    commission_fixed = MoneyField(default=0,
                                  help_text="Commission per payout, in the agent's currency")
    commission_rate = models.DecimalField(max_digits=8, decimal_places=6, default=0,
                                          help_text="Commission on the amount paid (0.01 = 1%)")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "code"], name="agents_agent_network_code"),
        ]
        ordering = ["network_id", "code"]

    def __str__(self) -> str:
        return f"{self.network.code}/{self.code}"

    @property
    def float_account(self) -> str:
        """Ledger account of the cash this agent holds for the gateway (floor zero)."""
        return f"assets:agent-float:{self.network.code}:{self.code}"


class AgentStaff(BaseModel):
    """A person working at one agent, signed in with their own Django user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="agent_staff")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="staff")
    can_pay_out = models.BooleanField(
        default=False, help_text="May confirm payouts; requires a confirmed TOTP device")
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "agent staff"

    def __str__(self) -> str:
        return f"{self.user} at {self.agent}"


class CashPickupCorridor(BaseModel):
    """The cash-pickup rule of one corridor: which network pays it, for how long a code holds
    and what happens to cash nobody collected."""

    class UncollectedAction(models.TextChoices):
        REFUND = "refund", "Refund the sender"
        NOTIFY_SENDER = "notify_sender", "Tell the sender (webhook); the code may be reissued"

    corridor = models.OneToOneField("transfers.Corridor", on_delete=models.PROTECT,
                                    related_name="cash_pickup")
    network = models.ForeignKey(AgentNetwork, on_delete=models.PROTECT,
                                related_name="corridors")
    pickup_window_seconds = models.PositiveIntegerField(default=7 * 24 * 3600)
    uncollected_action = models.CharField(max_length=16, choices=UncollectedAction.choices,
                                          default=UncollectedAction.NOTIFY_SENDER)

    def __str__(self) -> str:
        return f"{self.corridor} via {self.network}"


class Redemption(BaseModel):
    """The redemption code of one cash-pickup transfer and, once paid, who paid it."""

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued: the recipient may collect"
        HELD = "held", "Held by an operator: cannot be paid"
        PAID = "paid", "Paid out at a counter (final)"
        CANCELLED = "cancelled", "Not collected in time, or the transfer was refunded (final)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    transfer = models.OneToOneField("transfers.Transfer", on_delete=models.PROTECT,
                                    related_name="redemption")
    network = models.ForeignKey(AgentNetwork, on_delete=models.PROTECT,
                                related_name="redemptions")
    code_hash = models.CharField(max_length=64, unique=True,
                                 help_text="HMAC-SHA256 of the current code (the code is never "
                                 "stored)")
    code_nonce = models.CharField(max_length=32,
                                  help_text="Random input the current code is derived from with "
                                  "the server key")
    issue_number = models.PositiveIntegerField(default=1, help_text="1 + number of reissues")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ISSUED,
                              db_index=True)
    amount = MoneyField(help_text="Cash to hand over, in currency units")
    currency = models.CharField(max_length=3)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)
    paid_by_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="redemptions")
    paid_by_staff = models.ForeignKey(AgentStaff, null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="redemptions")
    paid_by_operator = models.CharField(max_length=120, blank=True,
                                        help_text="Cashier reference given by a network's "
                                        "point-of-sale")
    id_document = EncryptedJSONField(null=True, blank=True,
                                     help_text="ID document type and number (encrypted)")
    commission_amount = MoneyField(null=True, blank=True,
                                   help_text="Commission owed to the network, currency units")
    uncollected_action = models.CharField(max_length=16, blank=True)
    uncollected_handled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"redemption of {self.transfer_id} ({self.status})"


class LookupAudit(models.Model):
    """One row per code lookup or confirmation attempt, whatever its outcome."""

    class Channel(models.TextChoices):
        PORTAL = "portal", "Agent portal"
        API = "api", "Network API"

    class Outcome(models.TextChoices):
        FOUND = "found", "Code found and payable"
        NOT_FOUND = "not_found", "No such code"
        OTHER_NETWORK = "other_network", "Code of another network (shown as not found)"
        INVALID_FORMAT = "invalid_format", "Not a code"
        NOT_PAYABLE = "not_payable", "Code found, cannot be paid (expired, paid, held, refunded)"
        LOCKED = "locked", "Refused: agent or staff locked out"

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="lookups")
    staff = models.ForeignKey(AgentStaff, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="lookups")
    api_key_prefix = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    action = models.CharField(max_length=12, default="lookup")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=200, blank=True)
    redemption = models.ForeignKey(Redemption, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="lookups")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} at {self.agent_id}"


class LookupThrottle(BaseModel):
    """Failed lookups of one agent, staff account or API key in the current window, and the
    time until which it is locked out."""

    class Scope(models.TextChoices):
        AGENT = "agent", "Agent"
        STAFF = "staff", "Staff account"
        API_KEY = "api_key", "Network API key"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    subject = models.CharField(max_length=64, help_text="Id of the agent, staff or key prefix")
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "subject"], name="agents_throttle_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.subject}"


class RedemptionEvent(models.Model):
    """One fact of a redemption code, as cash pickup records it (append-only): issued,
    reissued, held, released, redeemed at a counter, left uncollected. The gateway acts on
    these facts through the payouts' owner; an operator reads them as the code's history."""

    class Kind(models.TextChoices):
        ISSUED = "issued", "Code issued (SMS to the recipient)"
        REISSUED = "reissued", "Code reissued (the old one stopped working)"
        HELD = "held", "Held by an operator"
        RELEASED = "released", "Released by an operator"
        REDEEMED = "redeemed", "Cash handed over at a counter"
        UNCOLLECTED = "uncollected", "Not collected within the pickup window"

    redemption = models.ForeignKey(Redemption, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    issue_number = models.PositiveIntegerField(help_text="Which issue of the code it concerns")
    actor = models.CharField(max_length=120, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.redemption_id}: {self.kind}"
