"""Treasury services on the real ledger, the Luno sandbox and PostgreSQL."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.treasury.models import (
    ExposureLimit,
    FloatPolicy,
    FloatReservation,
    Incident,
    ReconciliationRun,
    RefillProposal,
)
from gateway.treasury.services import (
    FloatShortError,
    ReservationStateError,
    treasury_float_available,
    treasury_float_check,
    treasury_float_commit,
    treasury_float_release,
    treasury_float_reserve,
    treasury_reconcile,
    treasury_refills_propose,
)
from ramps.liquidity.models import ConversionOrder
from ramps.liquidity.services import conversion_order_execute

K_ASSET, K_EQUITY = "asset", "equity"


def _fund(rail="mpesa-ke", amount="1000.00", currency="KES", reference="fund-1"):
    ledger_entry_post(reference=reference, description="float top-up", legs=[
        debit(f"assets:float:{rail}", currency, Decimal(amount), kind=LedgerAccount.Kind.ASSET,
              floor=True),
        credit("equity:treasury", currency, Decimal(amount), kind=LedgerAccount.Kind.EQUITY)])


@pytest.mark.django_db
def test_reserve_commit_moves_the_float_through_the_ledger():
    _fund()

    treasury_float_reserve(transfer_reference="t-1", rail_code="mpesa-ke",
                           amount=Decimal("400.00"), currency="KES")
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("600.00")
    assert account_balance(code="assets:float-reserved:mpesa-ke",
                           currency="KES") == Decimal("400.00")

    done = treasury_float_commit(transfer_reference="t-1")
    again = treasury_float_commit(transfer_reference="t-1")

    assert (done.status, again.status) == ("committed", "committed")
    assert account_balance(code="assets:float-reserved:mpesa-ke", currency="KES") == 0
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal("400.00")
    with pytest.raises(ReservationStateError):
        treasury_float_release(transfer_reference="t-1")


@pytest.mark.django_db
def test_release_gives_the_float_back_once():
    _fund()
    treasury_float_reserve(transfer_reference="t-2", rail_code="mpesa-ke",
                           amount=Decimal("1000.00"), currency="KES")

    treasury_float_release(transfer_reference="t-2")
    treasury_float_release(transfer_reference="t-2")

    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("1000.00")
    assert JournalEntry.objects.filter(reference__startswith="treasury:t-2:").count() == 2
    with pytest.raises(ReservationStateError):
        treasury_float_commit(transfer_reference="t-2")


@pytest.mark.django_db
def test_short_float_is_refused_and_writes_nothing():
    _fund(amount="100.00")

    with pytest.raises(FloatShortError):
        treasury_float_reserve(transfer_reference="t-3", rail_code="mpesa-ke",
                               amount=Decimal("100.01"), currency="KES")

    assert FloatReservation.objects.count() == 0
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("100.00")
    with pytest.raises(FloatShortError) as raised:
        treasury_float_check(rail_code="mpesa-ke", currency="KES", amount=Decimal("100.01"))
    assert raised.value.extra == {"available": "100.00", "currency": "KES"}


@pytest.mark.django_db
def test_reserve_is_idempotent_and_refuses_other_terms():
    _fund()
    first = treasury_float_reserve(transfer_reference="t-4", rail_code="mpesa-ke",
                                   amount=Decimal("10.00"), currency="KES")
    again = treasury_float_reserve(transfer_reference="t-4", rail_code="mpesa-ke",
                                   amount=Decimal("10.00"), currency="KES")

    assert again.pk == first.pk
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("990.00")
    with pytest.raises(Exception, match="other float"):
        treasury_float_reserve(transfer_reference="t-4", rail_code="mpesa-ke",
                               amount=Decimal("11.00"), currency="KES")


@pytest.mark.django_db(transaction=True)
def test_two_transfers_competing_for_the_last_float_one_waits():
    _fund(amount="500.00")
    barrier = threading.Barrier(2)
    outcomes = {}

    def reserve(reference):
        try:
            barrier.wait()
            treasury_float_reserve(transfer_reference=reference, rail_code="mpesa-ke",
                                   amount=Decimal("300.00"), currency="KES")
            outcomes[reference] = "reserved"
        except FloatShortError:
            outcomes[reference] = "short"
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(f"race-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["reserved", "short"]
    assert FloatReservation.objects.count() == 1
    assert treasury_float_available(rail_code="mpesa-ke", currency="KES") == Decimal("200.00")


@pytest.mark.django_db
def test_reconciliation_matches_then_catches_an_injected_difference(exchange_venue,
                                                                   exchange_sandbox):
    exchange_sandbox.control({"action": "set_balance", "asset": "NGN", "balance": "0"})
    exchange_sandbox.control({"action": "set_balance", "asset": "UGX", "balance": "0"})
    exchange_sandbox.control({"action": "set_balance", "asset": "USDT", "balance": "0"})
    code = f"assets:venue:{exchange_venue.name}"
    for currency, amount in (("USDC", "1000000"), ("KES", "100000000")):
        ledger_entry_post(reference=f"opening-{currency}", description="opening", legs=[
            debit(code, currency, Decimal(amount), kind=LedgerAccount.Kind.ASSET),
            credit("equity:opening", currency, Decimal(amount),
                   kind=LedgerAccount.Kind.EQUITY)])

    clean = treasury_reconcile(sources=("venue",))
    assert clean.status == ReconciliationRun.Status.MATCHED
    assert Incident.objects.count() == 0

    exchange_sandbox.control({"action": "set_balance", "asset": "KES", "balance": "99999000"})
    run = treasury_reconcile(sources=("venue",))

    assert run.status == ReconciliationRun.Status.DIFFERENCES
    line = run.lines.get(currency="KES")
    assert (line.ledger_balance, line.external_balance, line.difference) == (
        Decimal("100000000"), Decimal("99999000"), Decimal("-1000"))
    assert run.lines.get(currency="USDC").difference == 0
    incident = Incident.objects.get()
    assert incident.run == run
    assert incident.details["differences"] == [{
        "source": "venue", "account": code, "currency": "KES", "ledger": "100000000.00",
        "external": "99999000.00", "difference": "-1000.00"}]

    # The same difference on the next runs: the open incident stands for it, none is added.
    again = treasury_reconcile(sources=("venue",))
    assert again.status == ReconciliationRun.Status.DIFFERENCES
    assert list(Incident.objects.all()) == [incident]
    # Another difference, or the same one after the incident was resolved, opens a new one.
    exchange_sandbox.control({"action": "set_balance", "asset": "KES", "balance": "99998000"})
    treasury_reconcile(sources=("venue",))
    assert Incident.objects.count() == 2
    Incident.objects.update(status=Incident.Status.RESOLVED)
    treasury_reconcile(sources=("venue",))
    assert Incident.objects.filter(status=Incident.Status.OPEN).count() == 1


@pytest.mark.django_db
def test_unreachable_venue_makes_the_run_incomplete(exchange_venue):
    exchange_venue.api_secret = "wrong"
    exchange_venue.save()

    run = treasury_reconcile(sources=("venue",))

    assert run.status == ReconciliationRun.Status.INCOMPLETE
    assert run.errors == ["venue luno-sandbox: AuthenticationError"]
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_refill_proposed_and_placed_under_threshold_capped_by_exposure(exchange_venue,
                                                                      exchange_sandbox):
    exchange_sandbox.control({"action": "set_book", "pair": "USDCKES",
                              "bids": [["100.00", "1000"]], "asks": [["101.00", "1000"]]})
    _fund(amount="1000.00")
    ExposureLimit.objects.create(currency="KES", max_amount=Decimal("6000"))
    FloatPolicy.objects.create(rail_code="mpesa-ke", currency="KES",
                               refill_threshold=Decimal("2000"), refill_target=Decimal("10000"),
                               venue=exchange_venue, venue_symbol="USDC/KES", auto_place=True)

    [proposal] = treasury_refills_propose()

    # target 10000 capped at 6000 held in all: 5000 KES more; 5000 / (100 x 0.998) = 50.1002,
    # truncated to the market's 0.01 step so that the venue takes the order.
    assert proposal.amount_quote == Decimal("5000.00")
    assert proposal.amount_base == Decimal("50.10")
    assert proposal.status == RefillProposal.Status.PLACED
    order = ConversionOrder.objects.get(reference=proposal.order_reference)
    assert (order.side, order.amount_base, order.status) == ("sell", Decimal("50.10"),
                                                             "created")
    assert conversion_order_execute(order=order).status == ConversionOrder.Status.FILLED
