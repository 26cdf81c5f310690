import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from gateway.ledger.models import JournalEntry, LedgerAccount, Posting
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.ledger.services import (
    DuplicateEntryError,
    NegativeBalanceError,
    UnbalancedEntryError,
    credit,
    debit,
    ledger_entry_post,
)

K = LedgerAccount.Kind


def fund_float(amount: str, reference: str = "seed:float") -> None:
    ledger_entry_post(reference=reference, description="opening float", legs=[
        debit("assets:float:mpesa", "KES", Decimal(amount), kind=K.ASSET, floor=True),
        credit("equity:opening", "KES", Decimal(amount), kind=K.EQUITY),
    ])


@pytest.mark.django_db
def test_balanced_entry_is_posted_and_balances_are_sums_of_postings():
    entry = ledger_entry_post(reference="e1", description="deposit", legs=[
        debit("assets:custody", "USDC", Decimal("100.000000"), kind=K.ASSET),
        credit("liabilities:transfers", "USDC", Decimal("99.000000"), kind=K.LIABILITY),
        credit("revenue:fees", "USDC", Decimal("1.000000"), kind=K.REVENUE),
    ])
    assert entry.postings.count() == 3
    assert account_balance(code="assets:custody", currency="USDC") == Decimal("100")
    assert account_balance(code="liabilities:transfers", currency="USDC") == Decimal("-99")
    assert account_balance(code="revenue:fees", currency="USDC") == Decimal("-1")
    assert unbalanced_entries() == []


@pytest.mark.django_db
def test_unbalanced_entry_is_refused_and_nothing_is_written():
    with pytest.raises(UnbalancedEntryError):
        ledger_entry_post(reference="bad", description="bad", legs=[
            debit("assets:custody", "USDC", Decimal("100"), kind=K.ASSET),
            credit("liabilities:transfers", "USDC", Decimal("99.99"), kind=K.LIABILITY),
        ])
    assert JournalEntry.objects.count() == 0
    assert Posting.objects.count() == 0


@pytest.mark.django_db
def test_entry_balanced_overall_but_not_per_currency_is_refused():
    with pytest.raises(UnbalancedEntryError):
        ledger_entry_post(reference="fx", description="mixed", legs=[
            debit("assets:custody", "USDC", Decimal("100"), kind=K.ASSET),
            credit("liabilities:payouts", "KES", Decimal("100"), kind=K.LIABILITY),
        ])
    assert Posting.objects.count() == 0


@pytest.mark.django_db
def test_amount_finer_than_currency_exponent_is_refused():
    with pytest.raises(UnbalancedEntryError):
        ledger_entry_post(reference="dust", description="dust", legs=[
            debit("assets:float:mpesa", "KES", Decimal("1.005"), kind=K.ASSET),
            credit("equity:opening", "KES", Decimal("1.005"), kind=K.EQUITY),
        ])


@pytest.mark.django_db
def test_same_reference_cannot_be_posted_twice():
    fund_float("100.00", reference="once")
    with pytest.raises(DuplicateEntryError):
        fund_float("100.00", reference="once")
    assert account_balance(code="assets:float:mpesa", currency="KES") == Decimal("100.00")


@pytest.mark.django_db
def test_float_account_cannot_go_negative():
    fund_float("100.00")
    with pytest.raises(NegativeBalanceError):
        ledger_entry_post(reference="payout", description="too much", legs=[
            debit("liabilities:payouts", "KES", Decimal("100.01"), kind=K.LIABILITY),
            credit("assets:float:mpesa", "KES", Decimal("100.01"), kind=K.ASSET, floor=True),
        ])
    assert account_balance(code="assets:float:mpesa", currency="KES") == Decimal("100.00")
    assert not JournalEntry.objects.filter(reference="payout").exists()


@pytest.mark.django_db
def test_database_refuses_an_unbalanced_entry_written_behind_the_service():
    """The deferred trigger checks at commit; SET CONSTRAINTS ... IMMEDIATE checks now."""
    account = LedgerAccount.objects.create(code="assets:x", currency="KES", kind=K.ASSET)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(reference="raw", description="raw")
        Posting.objects.create(entry=entry, account=account, currency="KES",
                               amount=Decimal("5.00"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not JournalEntry.objects.filter(reference="raw").exists()


@pytest.mark.django_db
def test_database_refuses_a_posting_in_another_currency_than_its_account():
    kes = LedgerAccount.objects.create(code="assets:x", currency="KES", kind=K.ASSET)
    usd = LedgerAccount.objects.create(code="assets:y", currency="USD", kind=K.ASSET)
    with pytest.raises(IntegrityError, match="differs"), transaction.atomic():
        entry = JournalEntry.objects.create(reference="raw2", description="raw")
        Posting.objects.create(entry=entry, account=kes, currency="USD", amount=Decimal("5"))
        Posting.objects.create(entry=entry, account=usd, currency="USD", amount=Decimal("-5"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_database_refuses_an_entry_without_postings():
    with pytest.raises(IntegrityError, match="no postings"), transaction.atomic():
        JournalEntry.objects.create(reference="empty", description="empty")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
def test_postings_are_append_only_in_the_database():
    fund_float("10.00")
    posting = Posting.objects.first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Posting.objects.filter(pk=posting.pk).update(amount=Decimal("11.00"))
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_posting")
    assert account_balance(code="assets:float:mpesa", currency="KES") == Decimal("10.00")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_payouts_cannot_both_spend_the_last_float():
    fund_float("100.00")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def spend(reference: str) -> None:
        barrier.wait()
        try:
            ledger_entry_post(reference=reference, description="payout", legs=[
                debit("liabilities:payouts", "KES", Decimal("60.00"), kind=K.LIABILITY),
                credit("assets:float:mpesa", "KES", Decimal("60.00"), kind=K.ASSET, floor=True),
            ])
            outcomes.append("ok")
        except NegativeBalanceError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(f"p{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert account_balance(code="assets:float:mpesa", currency="KES") == Decimal("40.00")


ACCOUNTS = ["assets:a", "assets:b", "liabilities:c", "revenue:d"]
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)
entries = st.lists(
    st.tuples(st.sampled_from(["KES", "UGX", "USDC"]),
              st.lists(st.tuples(st.sampled_from(ACCOUNTS), amounts), min_size=1, max_size=4)),
    min_size=1, max_size=8,
)


class LedgerPropertyTests(HypothesisTestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(entries=entries)
    def test_balances_always_equal_the_sum_of_postings(self, entries):
        from gateway.common.money import money_round

        expected: dict[tuple[str, str], Decimal] = {}
        for number, (currency, debits) in enumerate(entries):
            legs = []
            total = Decimal(0)
            for code, amount in debits:
                amount = money_round(amount, currency)
                if amount == 0:
                    continue
                legs.append(debit(code, currency, amount, kind=K.ASSET))
                expected[(code, currency)] = expected.get((code, currency), 0) + amount
                total += amount
            if not legs:
                continue
            legs.append(credit("equity:balancing", currency, total, kind=K.EQUITY))
            expected[("equity:balancing", currency)] = (
                expected.get(("equity:balancing", currency), 0) - total)
            ledger_entry_post(reference=f"h{number}", description="generated", legs=legs)
        for (code, currency), amount in expected.items():
            assert account_balance(code=code, currency=currency) == amount
        assert unbalanced_entries() == []


@pytest.mark.django_db
def test_the_accounts_page_shows_balances_with_one_query_for_all(admin_client,
                                                                  django_assert_max_num_queries):
    client = admin_client  # an operator signed in with two factors (tests/fixtures/console.py)
    fund_float("250.00")
    with django_assert_max_num_queries(13):  # +1: the session's second-factor device
        page = client.get("/admin/ledger/ledgeraccount/")
    assert page.status_code == 200
    assert "250.00" in page.content.decode()
    assert "-250.00" in page.content.decode()
