"""Reading the ledger: balances are sums of postings."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from gateway.ledger.models import JournalEntry, LedgerAccount, Posting


def account_balance(*, code: str, currency: str) -> Decimal:
    """Debit-positive balance of an account (zero if it has no postings)."""
    total = Posting.objects.filter(account__code=code, currency=currency).aggregate(
        s=Sum("amount")
    )["s"]
    return total if total is not None else Decimal(0)


def account_balances() -> list[tuple[LedgerAccount, Decimal]]:
    rows = LedgerAccount.objects.annotate(balance=Sum("postings__amount")).order_by("code")
    return [(row, row.balance if row.balance is not None else Decimal(0)) for row in rows]


def entries_for_owner(*, owner_reference: str) -> QuerySet[JournalEntry]:
    return (
        JournalEntry.objects.filter(owner_reference=owner_reference)
        .prefetch_related("postings__account")
        .order_by("created_at", "id")
    )


def unbalanced_entries() -> list[tuple[int, str, Decimal]]:
    """Entries whose postings do not sum to zero in some currency (should always be empty)."""
    rows = (
        Posting.objects.values("entry_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("entry_id")
    )
    return [(row["entry_id"], row["currency"], row["total"]) for row in rows]
