"""Double-entry ledger.

A ``JournalEntry`` groups ``Posting`` rows; debits are positive amounts and credits negative, so
an entry balances when its postings sum to zero in every currency. PostgreSQL enforces that with a
deferred constraint trigger (see migration 0002), so an unbalanced entry cannot be committed even
by code that bypasses ``ledger_entry_post``. Entries and postings are append-only: a correction is
a new entry. Balances are derived from postings, never stored.
"""

from django.db import models

from gateway.common.models import BaseModel, MoneyField


class LedgerAccount(BaseModel):
    class Kind(models.TextChoices):
        ASSET = "asset", "Asset (debit-normal: what the business holds)"
        LIABILITY = "liability", "Liability (credit-normal: what the business owes)"
        EQUITY = "equity", "Equity (credit-normal: owner funding)"
        REVENUE = "revenue", "Revenue (credit-normal: fees and spreads earned)"
        EXPENSE = "expense", "Expense (debit-normal: costs)"

    code = models.CharField(max_length=160,
                            help_text="Hierarchical name, e.g. assets:float:mpesa-ke")
    currency = models.CharField(max_length=12, help_text="ISO 4217 code or crypto asset symbol")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    must_not_go_negative = models.BooleanField(
        default=False,
        help_text="Float and custody accounts: a posting that would take the (debit) balance "
        "below zero is refused.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"],
                                    name="ledger_account_code_currency"),
        ]
        ordering = ["code", "currency"]

    def __str__(self) -> str:
        return f"{self.code} [{self.currency}]"


class JournalEntry(BaseModel):
    reference = models.CharField(
        max_length=200,
        unique=True,
        help_text="Idempotency key of the business event, e.g. transfer:<id>:funding. Posting the "
        "same event twice is refused by this constraint.",
    )
    description = models.CharField(max_length=300)
    owner_reference = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Public id of the transfer, if any."
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return self.reference


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    currency = models.CharField(max_length=12, help_text="Must equal the account's currency.")
    amount = MoneyField(help_text="Signed amount in currency units: debit > 0, credit < 0.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_posting_nonzero"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.account.code} {self.amount} {self.currency}"
