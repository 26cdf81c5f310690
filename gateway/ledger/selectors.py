"""Reading the ledger: balances are sums of postings."""

from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet, Sum

from gateway.ledger.models import JournalEntry, Posting


def amount_sum(postings: QuerySet[Posting]) -> Decimal:
    """Exact sum of posting amounts: in the database on PostgreSQL (NUMERIC), in Python on
    SQLite, whose SUM() would go through binary floats."""
    if connection.vendor == "postgresql":
        total = postings.aggregate(s=Sum("amount"))["s"]
        return total if total is not None else Decimal(0)
    return sum((p for p in postings.values_list("amount", flat=True)), Decimal(0))


def account_balance(*, code: str, currency: str) -> Decimal:
    """Debit-positive balance of an account (zero if it has no postings)."""
    return amount_sum(Posting.objects.filter(account__code=code, currency=currency))


def account_balance_by_id(*, account_id: int) -> Decimal:
    return amount_sum(Posting.objects.filter(account_id=account_id))


def trial_balance() -> dict[str, Decimal]:
    """Sum of every posting per currency: zero in every currency when the ledger balances."""
    totals: dict[str, Decimal] = {}
    for currency in Posting.objects.values_list("currency", flat=True).distinct():
        totals[currency] = amount_sum(Posting.objects.filter(currency=currency))
    return totals


def entries_for_owner(*, owner_reference: str) -> QuerySet[JournalEntry]:
    return (
        JournalEntry.objects.filter(owner_reference=owner_reference)
        .prefetch_related("postings__account")
        .order_by("created_at", "id")
    )


def unbalanced_entries() -> list[tuple[int, str, Decimal]]:
    """Entries whose postings do not sum to zero in some currency (should always be empty)."""
    if connection.vendor == "postgresql":
        rows = (
            Posting.objects.values("entry_id", "currency")
            .annotate(total=Sum("amount"))
            .exclude(total=0)
            .order_by("entry_id")
        )
        return [(row["entry_id"], row["currency"], row["total"]) for row in rows]
    totals: dict[tuple[int, str], Decimal] = {}
    for entry_id, currency, amount in Posting.objects.values_list("entry_id", "currency",
                                                                   "amount"):
        totals[(entry_id, currency)] = totals.get((entry_id, currency), Decimal(0)) + amount
    return [(e, c, t) for (e, c), t in sorted(totals.items()) if t != 0]
