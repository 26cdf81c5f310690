"""Treasury: float reservations per transfer, exposure limits, refill policies, reconciliation
runs and the incidents they open. Balances themselves live in the ledger (gateway.ledger)."""

from django.db import models

from gateway.common.models import BaseModel, MoneyField


class FloatReservation(BaseModel):
    """The payout amount of one transfer held on its rail's float: reserved at funding,
    committed when the payout succeeds, released when it fails or the transfer expires.

    Each move is one ledger entry (free float -> reserved float -> paid out, or back), whose
    reference is derived from ``transfer_reference``, so each happens at most once.
    """

    class Status(models.TextChoices):
        # Held: moved from assets:float:<rail> to assets:float-reserved:<rail>.
        RESERVED = "reserved", "Reserved"
        # Paid out: the reserved amount left the float for the recipient.
        COMMITTED = "committed", "Committed"
        # Given back to the free float (payout failed, transfer expired or refunded).
        RELEASED = "released", "Released"

    transfer_reference = models.CharField(max_length=128, unique=True)
    rail_code = models.CharField(max_length=32, db_index=True)
    currency = models.CharField(max_length=3)
    amount = MoneyField(help_text="Amount held, in units of currency.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED,
                              db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Released by the periodic task after this, if "
                                                "still reserved; blank = held until told.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.rail_code} ({self.status})"


class ExposureLimit(BaseModel):
    """The most the gateway may hold in one currency across rail floats (a risk limit):
    refills are capped so that free plus reserved float stays under ``max_amount``."""

    currency = models.CharField(max_length=12, unique=True)
    max_amount = MoneyField(help_text="Ceiling, in units of currency.")

    def __str__(self) -> str:
        return f"{self.currency} <= {self.max_amount}"


class FloatPolicy(BaseModel):
    """When and how a rail's float is refilled by a conversion on a venue."""

    rail_code = models.CharField(max_length=32, unique=True)
    currency = models.CharField(max_length=3)
    refill_threshold = MoneyField(help_text="Refill when the free float falls under this.")
    refill_target = MoneyField(help_text="Free float to refill up to.")
    venue = models.ForeignKey("liquidity.Venue", null=True, blank=True, on_delete=models.PROTECT)
    venue_symbol = models.CharField(max_length=32, blank=True,
                                    help_text="Market the refill sells on, e.g. 'USDC/KES'.")
    auto_place = models.BooleanField(default=False, help_text="Place the conversion order "
                                                              "itself, not only propose it.")

    def __str__(self) -> str:
        return f"{self.rail_code}: refill under {self.refill_threshold} to {self.refill_target}"


class RefillProposal(BaseModel):
    """A refill the rebalancing task proposed (and possibly placed as a conversion order)."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed to an operator"
        PLACED = "placed", "Conversion order placed"
        CAPPED = "capped", "Nothing to do: the exposure limit is reached"

    policy = models.ForeignKey(FloatPolicy, on_delete=models.PROTECT, related_name="proposals")
    free_float = MoneyField(help_text="Free float when proposed, in the rail's currency.")
    amount_quote = MoneyField(help_text="Float to add, in the rail's currency.")
    amount_base = MoneyField(null=True, blank=True,
                             help_text="Base asset to sell for it at the routed price.")
    status = models.CharField(max_length=10, choices=Status.choices)
    order_reference = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at"]


class ReconciliationRun(BaseModel):
    """One comparison of outside balances (venues, rails, chain) with the ledger."""

    class Status(models.TextChoices):
        MATCHED = "matched", "Everything matched"
        DIFFERENCES = "differences", "Differences found"
        INCOMPLETE = "incomplete", "A source could not be read"

    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    total_abs_difference = models.JSONField(default=dict, blank=True,
                                            help_text="Sum of |difference| per currency.")
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Reconciliation {self.pk} ({self.status or 'running'})"


class ReconciliationLine(models.Model):
    """One account compared: what the ledger says and what the outside source says."""

    class Source(models.TextChoices):
        VENUE = "venue", "Exchange venue"
        RAIL = "rail", "Payout rail"
        CHAIN = "chain", "On-chain treasury"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="lines")
    source = models.CharField(max_length=8, choices=Source.choices)
    account_code = models.CharField(max_length=128)
    currency = models.CharField(max_length=12)
    ledger_balance = MoneyField()
    external_balance = MoneyField()
    difference = MoneyField(help_text="external - ledger, in units of currency.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.account_code} [{self.currency}]: {self.difference}"


class Incident(BaseModel):
    """Something an operator must look at; opened by reconciliation on a difference."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    kind = models.CharField(max_length=32, default="reconciliation-difference")
    title = models.CharField(max_length=200)
    run = models.ForeignKey(ReconciliationRun, null=True, blank=True, on_delete=models.PROTECT,
                            related_name="incidents")
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN,
                              db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
