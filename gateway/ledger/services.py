"""Writing to the ledger: one function, ``ledger_entry_post``."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from gateway.common.money import money_round
from gateway.common.problems import DomainError
from gateway.ledger.models import JournalEntry, LedgerAccount, Posting
from gateway.ledger.selectors import account_balance_by_id


class UnbalancedEntryError(DomainError):
    slug = "ledger-unbalanced"
    title = "Journal entry does not balance"
    status = 500


class NegativeBalanceError(DomainError):
    slug = "insufficient-float"
    title = "Not enough funds in the account"
    status = 409


class DuplicateEntryError(DomainError):
    slug = "ledger-duplicate-entry"
    title = "Journal entry already posted"
    status = 409


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting to be written: ``amount`` > 0 debits, < 0 credits ``account_code``."""

    account_code: str
    currency: str
    amount: Decimal
    kind: str = LedgerAccount.Kind.ASSET
    must_not_go_negative: bool = False


def debit(code: str, currency: str, amount: Decimal, *, kind: str, floor: bool = False) -> Leg:
    return Leg(code, currency, amount, kind, floor)


def credit(code: str, currency: str, amount: Decimal, *, kind: str, floor: bool = False) -> Leg:
    return Leg(code, currency, -amount, kind, floor)


def ledger_account_get_or_create(*, code: str, currency: str, kind: str,
                                 must_not_go_negative: bool = False) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        code=code, currency=currency,
        defaults={"kind": kind, "must_not_go_negative": must_not_go_negative},
    )
    return account


def ledger_entry_post(*, reference: str, description: str, legs: list[Leg],
                      owner_reference: str = "") -> JournalEntry:
    """Write one balanced journal entry atomically.

    Refuses (and writes nothing) when the legs do not sum to zero per currency, when an amount is
    not already rounded to its currency, when a floor-zero account would go negative, or when an
    entry with the same reference exists.
    """
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        if not isinstance(leg.amount, Decimal):
            raise TypeError("Ledger amounts must be Decimal.")
        if leg.amount != money_round(leg.amount, leg.currency):
            raise UnbalancedEntryError(
                f"{leg.amount} {leg.currency} is not rounded to the currency's exponent."
            )
        totals[leg.currency] += leg.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced or len([leg for leg in legs if leg.amount != 0]) < 2:
        raise UnbalancedEntryError(f"Entry {reference} does not balance: {unbalanced or legs}.")

    with transaction.atomic():
        accounts = {
            (leg.account_code, leg.currency): ledger_account_get_or_create(
                code=leg.account_code, currency=leg.currency, kind=leg.kind,
                must_not_go_negative=leg.must_not_go_negative,
            )
            for leg in legs
        }
        # Lock floor-zero accounts in a fixed order so concurrent posters cannot both spend the
        # same float, and cannot deadlock each other.
        guarded_ids = sorted(a.pk for a in accounts.values() if a.must_not_go_negative)
        if guarded_ids:
            list(LedgerAccount.objects.select_for_update().filter(pk__in=guarded_ids).order_by("pk"))
        try:
            with transaction.atomic():
                entry = JournalEntry.objects.create(
                    reference=reference, description=description, owner_reference=owner_reference
                )
        except IntegrityError as exc:
            raise DuplicateEntryError(f"Entry {reference} was already posted.") from exc
        Posting.objects.bulk_create([
            Posting(entry=entry, account=accounts[(leg.account_code, leg.currency)],
                    currency=leg.currency, amount=leg.amount)
            for leg in legs if leg.amount != 0
        ])
        for account_id in guarded_ids:
            balance = account_balance_by_id(account_id=account_id)
            if balance < 0:
                account = next(a for a in accounts.values() if a.pk == account_id)
                raise NegativeBalanceError(
                    f"{account.code} [{account.currency}] would go negative ({balance})."
                )
    return entry
