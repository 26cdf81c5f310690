"""A transfer through its state machine, service by service, without a chain.

Deposits are written as the chain watcher would record them; conversion runs on the sandbox
exchange through the real ccxt client; payouts go to the Daraja sandbox, whose result callbacks
are replayed into the gateway's callback endpoint (or posted by the sandbox itself to a live
server).
"""

import json
import secrets
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compliance.models import SanctionsList, ScreeningDecision
from compliance.services import sanctions_import
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.models import JournalEntry, LedgerAccount
from gateway.ledger.selectors import account_balance
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Transfer
from gateway.transfers.services.conversion import transfer_release_hold
from gateway.transfers.services.deposits import transfer_fund
from gateway.transfers.services.driver import operator_decide, transfer_advance, transfers_stuck
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.services.payouts import payout_callback_urls
from gateway.transfers.states import TransferState
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.models import Chain, Deposit
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt, PayoutCallback
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer

S = TransferState
K = LedgerAccount.Kind
CRYPTO_DIR = (Path(__file__).resolve().parents[3] / "compliance" / "data" / "sanctions"
              / "crypto-addresses-2024-09")
PAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SANCTIONED_PAYER = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"  # on the OFAC ETH list
RAIL_FLOAT = Decimal("1000000.00")
# Daraja sandbox scenarios by the recipient's last digit: 9 paid, 5 paid with a duplicate result.
PAID = "+254708374149"
PAID_WITH_DUPLICATE_CALLBACK = "+254708374145"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """What would go to the broker after commit; recorded, so that nothing runs behind a test."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay",
                        lambda pk: sent.append(("transfer_advance", pk)))
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay",
                        lambda pk: sent.append(("webhook_deliver", pk)))
    return sent


@pytest.fixture
def corridor(db, exchange_venue, daraja_rail, queued, callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    ledger_entry_post(
        reference=f"test:float:{daraja_rail.code}", description="Opening float",
        legs=[debit(f"assets:float:{daraja_rail.code}", "KES", RAIL_FLOAT, kind=K.ASSET,
                    floor=True),
              credit("equity:opening-balances", "KES", RAIL_FLOAT, kind=K.EQUITY)],
    )
    return make_corridor(venue=exchange_venue, rail=daraja_rail)


@pytest.fixture
def callbacks_to_receiver(settings, callback_receiver):
    """Daraja posts its results to the loopback receiver; tests replay them to the gateway."""
    settings.PUBLIC_BASE_URL = callback_receiver.base_url
    return callback_receiver


def new_transfer(corridor, *, phone=PAID, **overrides) -> Transfer:
    partner, _ = make_partner()
    return make_transfer(partner=partner, corridor=corridor,
                         recipient={"name": "Joseph Mwangi", "phone_number": phone}, **overrides)


def add_deposit(transfer, *, amount=None, status=Deposit.Status.CONFIRMED, payer=PAYER,
                token=None) -> Deposit:
    return Deposit.objects.create(
        chain=transfer.corridor.token.chain, token=token or transfer.corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=100, block_hash="0x" + secrets.token_hex(32),
        from_address=payer,
        amount=transfer.amount_in_base_units if amount is None else amount, status=status,
        confirmed_at=timezone.now() if status == Deposit.Status.CONFIRMED else None,
    )


def watcher_past_window(transfer) -> None:
    """The chain's watcher has scanned a block stamped after the transfer's deposit window
    (expiry follows chain time, not this server's clock)."""
    Chain.objects.filter(pk=transfer.corridor.token.chain_id).update(
        cursor_block=100, cursor_block_time=Transfer.objects.get(pk=transfer.pk)
        .deposit_expires_at + timedelta(seconds=1))


def entries(transfer) -> list[str]:
    """Journal entries of the transfer, by event name (the transfer's and the treasury's)."""
    prefixes = (f"transfer:{transfer.public_id}:", f"treasury:{transfer.public_id}:")
    names = []
    for reference in JournalEntry.objects.filter(owner_reference=transfer.reference).order_by(
            "id").values_list("reference", flat=True):
        for prefix in prefixes:
            reference = reference.removeprefix(prefix)
        names.append(reference)
    return names


def path(transfer) -> list[tuple[str, str]]:
    return list(transfer.events.order_by("id").values_list("from_state", "to_state"))


def replay(client, request):
    """Post a captured callback to the gateway at the path the sandbox used (which carries the
    rail's callback secret)."""
    body = json.dumps(request.body, default=lambda d: int(d) if d == d.to_integral() else float(d))
    return client.post(request.path, data=body, content_type="application/json")


def result_path(rail_code="mpesa-ke") -> str:
    return urlsplit(payout_callback_urls(rail_code=rail_code)[0]).path


def payments(sandbox, attempt) -> list[dict]:
    return [p for p in sandbox.payments if p["reference"] == attempt.reference]


def assert_nothing_moved_money(transfer) -> None:
    assert not ConversionOrder.objects.filter(reference=transfer.reference).exists()
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    # Funding may have reserved float (given back on rejection); nothing was converted or paid.
    assert [e for e in entries(transfer)
            if e not in ("funding", "float-reserve", "float-released")] == []


# --- the happy path -------------------------------------------------------------------------


def test_confirmed_deposit_runs_to_payout_and_the_daraja_result_completes_it(
        corridor, callbacks_to_receiver, daraja_sandbox, client):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer)

    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN),
                              (S.DEPOSIT_SEEN, S.FUNDED), (S.FUNDED, S.APPROVED),
                              (S.APPROVED, S.CONVERTING), (S.CONVERTING, S.PAYOUT_PENDING)]
    deposit.refresh_from_db()
    assert deposit.credited_at is not None
    assert transfer.amount_received_base_units == 100_000_000
    decision = transfer.compliance_decision
    assert (decision.outcome, decision.reasons) == (ScreeningDecision.Outcome.APPROVE, [])
    assert decision.list_versions == {"ofac-crypto": SanctionsList.objects.get(
        source="ofac-crypto", is_active=True).version}
    order = ConversionOrder.objects.get(reference=transfer.reference)
    assert (order.status, order.side, order.amount_base) == (
        ConversionOrder.Status.FILLED, "sell", Decimal("99.000000"))
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert (attempt.status, attempt.amount, attempt.recipient_msisdn) == (
        PayoutAttempt.Status.SUBMITTED, Decimal("12700.00"), PAID)
    assert entries(transfer) == ["funding", "float-reserve", "conversion"]

    [result] = callbacks_to_receiver.wait_for(attempt.reference)
    assert result.path == result_path()
    assert result.path.startswith("/callbacks/payouts/mpesa-ke/")
    response = replay(client, result)
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}

    transfer.refresh_from_db()
    attempt.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert transfer.sender_status == "completed"
    assert attempt.status == PayoutAttempt.Status.SUCCEEDED
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert entries(transfer) == ["funding", "float-reserve", "conversion", "float-committed"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        RAIL_FLOAT - Decimal("12700.00"))
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal("0.00")
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    # Nothing more to do for a completed transfer.
    assert transfer_advance(transfer_id=transfer.pk).state == S.COMPLETED
    assert len(payments(daraja_sandbox, attempt)) == 1


def test_the_same_result_callback_twice_pays_and_books_once(corridor, callbacks_to_receiver,
                                                            daraja_sandbox, client):
    transfer = new_transfer(corridor, phone=PAID_WITH_DUPLICATE_CALLBACK)
    add_deposit(transfer)
    transfer_advance(transfer_id=transfer.pk)
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)

    first, second = callbacks_to_receiver.wait_for(attempt.reference, count=2)
    assert first.body == second.body
    assert replay(client, first).status_code == 200
    assert replay(client, second).status_code == 200
    assert replay(client, first).status_code == 200

    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert path(transfer).count((S.PAYOUT_PENDING, S.COMPLETED)) == 1
    assert JournalEntry.objects.filter(
        reference=f"treasury:{transfer.public_id}:float-committed").count() == 1
    assert list(PayoutCallback.objects.filter(attempt=attempt).order_by("id")
                .values_list("processing_status", flat=True)) == [
        PayoutCallback.ProcessingStatus.APPLIED, PayoutCallback.ProcessingStatus.DUPLICATE,
        PayoutCallback.ProcessingStatus.DUPLICATE]
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        RAIL_FLOAT - Decimal("12700.00"))


def test_a_callback_for_an_unknown_reference_or_rail_changes_nothing(corridor, client):
    transfer = new_transfer(corridor, state=S.PAYOUT_PENDING)
    body = {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
                       "OriginatorConversationID": "not-ours", "ConversationID": "AG_1",
                       "TransactionID": "SBX1"}}
    response = client.post(result_path(), data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 200
    callback = PayoutCallback.objects.get()
    assert (callback.processing_status, callback.reference, callback.attempt) == (
        PayoutCallback.ProcessingStatus.UNMATCHED, "not-ours", None)
    response = client.post(result_path().replace("mpesa-ke", "no-such-rail"),
                           data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert PayoutCallback.objects.count() == 1
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_PENDING
    assert entries(transfer) == []


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_posts_its_results_to_the_live_gateway_and_a_duplicate_is_ignored(
        corridor, settings, live_server, daraja_sandbox):
    settings.PUBLIC_BASE_URL = live_server.url
    transfer = new_transfer(corridor, phone=PAID_WITH_DUPLICATE_CALLBACK)
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state in (S.PAYOUT_PENDING, S.COMPLETED)
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    # The callback row commits before the view acts on it: wait for both callbacks and for
    # the transfer's completion, not for the callbacks alone (that raced on a busy machine).
    # A result that arrives before Daraja's ConversationID is recorded is held and confirmed by
    # a status query (one more callback, its answer): wait until none is held.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            PayoutCallback.objects.filter(attempt=attempt).count() < 2
            or PayoutCallback.objects.filter(
                attempt=attempt, processing_status=PayoutCallback.ProcessingStatus.UNCONFIRMED
            ).exists()
            or Transfer.objects.get(pk=transfer.pk).state != S.COMPLETED):
        time.sleep(0.05)
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    statuses = list(PayoutCallback.objects.filter(attempt=attempt)
                    .values_list("processing_status", flat=True))
    assert set(statuses) == {PayoutCallback.ProcessingStatus.APPLIED,
                             PayoutCallback.ProcessingStatus.DUPLICATE}
    assert entries(transfer) == ["funding", "float-reserve", "conversion", "float-committed"]
    assert path(transfer).count((S.PAYOUT_PENDING, S.COMPLETED)) == 1
    assert len(payments(daraja_sandbox, attempt)) == 1


# --- deposits -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Deposit.Status.CONFIRMED, Deposit.Status.SEEN])
def test_an_underpayment_waits_in_deposit_seen_with_nothing_credited(corridor, status):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, amount=99_999_999, status=status)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    deposit.refresh_from_db()
    transfer.refresh_from_db()
    assert deposit.credited_at is None
    assert transfer.amount_received_base_units == 0
    assert transfer.compliance_decision is None
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.DEPOSIT_SEEN)]


def test_an_unconfirmed_deposit_covering_the_amount_is_not_credited(corridor):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, status=Deposit.Status.SEEN)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    deposit.refresh_from_db()
    assert deposit.credited_at is None
    assert entries(transfer) == []


def test_a_reorged_deposit_sends_the_transfer_back_to_awaiting(corridor):
    transfer = new_transfer(corridor)
    deposit = add_deposit(transfer, status=Deposit.Status.SEEN)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REORGED)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    assert entries(transfer) == []


def test_a_deposit_of_another_token_is_ignored(corridor):
    from ramps.chain.models import Token

    transfer = new_transfer(corridor)
    other = Token.objects.create(chain=corridor.token.chain, symbol="USDT",
                                 contract_address="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                                 decimals=6)
    add_deposit(transfer, token=other)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    assert entries(transfer) == []


def test_two_confirmed_deposits_that_cover_the_amount_are_both_credited(corridor):
    transfer = new_transfer(corridor)
    first = add_deposit(transfer, amount=60_000_000)
    second = add_deposit(transfer, amount=40_000_001)
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.credited_at is not None
    assert second.credited_at is not None
    transfer.refresh_from_db()
    assert transfer.amount_received_base_units == 100_000_001
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(
        "-0.000001")


def test_a_deposit_for_an_expired_transfer_is_never_credited(corridor):
    transfer = new_transfer(corridor, deposit_expires_at=timezone.now() - timedelta(seconds=1))
    watcher_past_window(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    deposit = add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    assert transfer_fund(transfer_id=transfer.pk, deposits=[deposit]).state == S.EXPIRED
    deposit.refresh_from_db()
    transfer.refresh_from_db()
    assert deposit.credited_at is None
    assert transfer.amount_received_base_units == 0
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)
    assert path(transfer) == [("", S.AWAITING_DEPOSIT), (S.AWAITING_DEPOSIT, S.EXPIRED)]


# --- compliance -----------------------------------------------------------------------------


@pytest.mark.parametrize("payer", [SANCTIONED_PAYER, SANCTIONED_PAYER.lower()])
def test_a_sanctioned_paying_address_is_rejected_before_any_money_moves(corridor, payer,
                                                                        daraja_sandbox):
    transfer = new_transfer(corridor)
    add_deposit(transfer, payer=payer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REJECTED
    assert transfer.sender_status == "error"
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.REJECT
    assert [(r["rule"], r["list"], r["ticker"], r["address"]) for r in decision.reasons] == [
        ("sanctioned-address", "ofac-crypto", "ETH", SANCTIONED_PAYER)]
    assert entries(transfer) == ["funding", "float-reserve", "float-released"]
    assert_nothing_moved_money(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert_nothing_moved_money(transfer)


def test_a_held_transfer_waits_and_proceeds_once_an_operator_approves(corridor):
    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "amount-review"
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    assert_nothing_moved_money(transfer)

    held = transfer.compliance_decision
    transfer = operator_decide(transfer_id=transfer.pk, approve=True, operator="ops@example",
                               note="Source of funds documented.")
    assert transfer.state == S.APPROVED
    assert transfer.hold_reason == ""
    approval = transfer.compliance_decision
    assert (approval.outcome, approval.supersedes_id, approval.decided_by) == (
        ScreeningDecision.Outcome.APPROVE, held.pk, "ops@example")
    assert transfer.events.order_by("-id").first().actor == "operator:ops@example"

    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    # Deciding again is refused: the transfer is no longer held.
    with pytest.raises(InvalidTransitionError):
        operator_decide(transfer_id=transfer.pk, approve=False, operator="ops", note="no")
    assert ScreeningDecision.objects.filter(subject_reference=transfer.reference).count() == 2


def test_a_held_transfer_rejected_by_an_operator_moves_no_money(corridor):
    transfer = new_transfer(corridor, sender={"name": "Amina Odhiambo"})
    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    transfer = operator_decide(transfer_id=transfer.pk, approve=False, operator="ops",
                               note="Could not verify the sender.")
    assert transfer.state == S.REJECTED
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert_nothing_moved_money(transfer)


def test_an_operator_without_a_note_changes_nothing(corridor):
    from gateway.common.problems import DomainError

    corridor.review_amount_in = Decimal("100.000000")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer_advance(transfer_id=transfer.pk)
    with pytest.raises(DomainError) as excinfo:
        operator_decide(transfer_id=transfer.pk, approve=True, operator="ops", note="  ")
    assert excinfo.value.slug == "reason-required"
    transfer.refresh_from_db()
    assert transfer.state == S.ON_HOLD
    assert ScreeningDecision.objects.filter(subject_reference=transfer.reference).count() == 1


# --- concurrency and re-drive ---------------------------------------------------------------


def _run_in_threads(count, work):
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    results: list = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:  # asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_workers_advancing_one_transfer_convert_and_pay_once(corridor, daraja_sandbox,
                                                                 callbacks_to_receiver):
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk, max_steps=2)
    assert transfer.state == S.APPROVED

    results, errors = _run_in_threads(2, lambda: transfer_advance(transfer_id=transfer.pk).state)
    assert errors == []
    # The loser may stop in converting while the winner's order is in flight (it only asks).
    assert S.PAYOUT_PENDING in results
    assert set(results) <= {S.CONVERTING, S.PAYOUT_PENDING}
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    [attempt] = PayoutAttempt.objects.filter(owner_reference=transfer.reference)
    callbacks_to_receiver.wait_for(attempt.reference)
    assert len(payments(daraja_sandbox, attempt)) == 1
    assert entries(transfer) == ["funding", "float-reserve", "conversion"]
    assert path(transfer).count((S.APPROVED, S.CONVERTING)) == 1
    assert path(transfer).count((S.CONVERTING, S.PAYOUT_PENDING)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_loses_the_funding_race_does_nothing(corridor):
    transfer = new_transfer(corridor, state=S.DEPOSIT_SEEN)
    deposit = add_deposit(transfer)
    errors: list[BaseException] = []

    def late_worker() -> None:
        try:
            transfer_advance(transfer_id=transfer.pk, max_steps=1)
        except BaseException as exc:  # asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        # Hold the transfer's row lock, as a first worker funding it does.
        Transfer.objects.select_for_update().get(pk=transfer.pk)
        worker = threading.Thread(target=late_worker)
        worker.start()
        deadline = time.monotonic() + 10
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                # Statistics views are a snapshot per transaction: clear it before each look.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'")
                if cursor.fetchone()[0] == 1:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the second worker never waited for the transfer")
        transfer_fund(transfer_id=transfer.pk, deposits=[deposit])
    worker.join(30)
    transfer.refresh_from_db()
    assert transfer.state == S.FUNDED
    assert entries(transfer) == ["funding", "float-reserve"]
    assert errors == []


def test_transfers_stuck_returns_active_transfers_left_alone_and_expiring_ones(corridor):
    old = timezone.now() - timedelta(minutes=10)
    approved_old = new_transfer(corridor, state=S.APPROVED)
    approved_recent = new_transfer(corridor, state=S.APPROVED)
    pending_old = new_transfer(corridor, state=S.PAYOUT_PENDING)
    held_old = new_transfer(corridor, state=S.ON_HOLD)
    completed_old = new_transfer(corridor, state=S.COMPLETED)
    seen_old = new_transfer(corridor, state=S.DEPOSIT_SEEN)
    awaiting_expired = new_transfer(corridor,
                                    deposit_expires_at=timezone.now() - timedelta(seconds=1))
    awaiting_open = new_transfer(corridor)
    Transfer.objects.filter(pk__in=[approved_old.pk, pending_old.pk, held_old.pk,
                                    completed_old.pk, seen_old.pk, awaiting_open.pk]).update(
        updated_at=old)
    assert transfers_stuck(older_than_seconds=60) == sorted(
        [approved_old.pk, pending_old.pk, awaiting_expired.pk])
    assert approved_recent.pk not in transfers_stuck(older_than_seconds=60)


def test_no_payout_is_sent_when_the_rail_float_cannot_cover_it(db, exchange_venue, daraja_rail,
                                                               daraja_sandbox, queued,
                                                               callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    corridor = make_corridor(venue=exchange_venue, rail=daraja_rail)
    ledger_entry_post(
        reference="test:float:small", description="Opening float",
        legs=[debit("assets:float:mpesa-ke", "KES", Decimal("100.00"), kind=K.ASSET, floor=True),
              credit("equity:opening-balances", "KES", Decimal("100.00"), kind=K.EQUITY)],
    )
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "insufficient rail float"
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    assert entries(transfer) == ["funding", "conversion"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == Decimal("100.00")


# --- holds that are not compliance cases ----------------------------------------------------


def test_a_float_hold_is_released_after_a_top_up_and_pays_once(db, exchange_venue, daraja_rail,
                                                                daraja_sandbox, queued,
                                                                callbacks_to_receiver):
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    corridor = make_corridor(venue=exchange_venue, rail=daraja_rail)
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    ledger_entry_post(
        reference="test:float:top-up", description="Top-up",
        legs=[debit("assets:float:mpesa-ke", "KES", Decimal("20000.00"), kind=K.ASSET,
                    floor=True),
              credit("equity:opening-balances", "KES", Decimal("20000.00"), kind=K.EQUITY)],
    )
    with pytest.raises(DomainError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note=" ")
    transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="float topped up")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    assert ConversionOrder.objects.filter(reference=transfer.reference).count() == 1
    assert entries(transfer) == ["funding", "conversion", "float-reserve"]
    assert account_balance(code="assets:float:mpesa-ke", currency="KES") == (
        Decimal("20000.00") - transfer.amount_out)
    assert account_balance(code="assets:float-reserved:mpesa-ke", currency="KES") == (
        transfer.amount_out)


def test_a_compliance_hold_cannot_be_released_as_a_treasury_hold(corridor):
    transfer = new_transfer(corridor, state=S.FUNDED)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    transfer_transition(transfer_id=transfer.pk, to_state=S.ON_HOLD,
                        updates={"compliance_decision": held})
    with pytest.raises(InvalidTransitionError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="looks fine")
    assert Transfer.objects.get(pk=transfer.pk).state == S.ON_HOLD


def test_an_underpaid_transfer_is_held_when_its_deposit_window_ends(corridor):
    transfer = new_transfer(corridor)
    add_deposit(transfer, amount=40_000_000)
    assert transfer_advance(transfer_id=transfer.pk).state == S.DEPOSIT_SEEN
    Transfer.objects.filter(pk=transfer.pk).update(
        deposit_expires_at=timezone.now() - timedelta(seconds=1))
    assert transfer.pk in transfers_stuck(older_than_seconds=3600)
    watcher_past_window(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    assert transfer.hold_reason == "underpaid"
    assert "40.000000 of 100.000000 USDC" in transfer.events.order_by("-id").first().reason
    assert entries(transfer) == []
    assert_nothing_moved_money(transfer)


def test_a_case_decided_outside_the_transfer_admin_is_picked_up_by_the_redrive(corridor):
    from compliance.services import screening_decide_manually

    transfer = new_transfer(corridor, state=S.FUNDED)
    held = ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "amount-review"}], rules_version="t", list_versions={})
    transfer_transition(transfer_id=transfer.pk, to_state=S.ON_HOLD,
                        updates={"compliance_decision": held})
    assert transfer.pk not in transfers_stuck(older_than_seconds=0)
    assert transfer_advance(transfer_id=transfer.pk).state == S.ON_HOLD
    screening_decide_manually(decision=held, outcome=ScreeningDecision.Outcome.REJECT,
                              operator="checker", note="risk confirmed")
    assert transfer.pk in transfers_stuck(older_than_seconds=0)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REJECTED
    assert transfer.compliance_decision.supersedes_id == held.pk
    assert transfer.events.order_by("-id").first().actor == "operator:checker"


# --- transaction monitoring -----------------------------------------------------------------


def test_a_monitoring_rule_that_fires_holds_the_transfer_and_opens_a_case(corridor):
    from compliance.cases.models import Case
    from compliance.monitoring.services import monitoring_rule_save

    monitoring_rule_save(code="big-amount", kind="threshold", params={"amount_usd": "100"},
                         score=60, corridor_codes=[])
    transfer = new_transfer(corridor)
    add_deposit(transfer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.ON_HOLD
    decision = transfer.compliance_decision
    assert decision.outcome == ScreeningDecision.Outcome.HOLD
    assert [(r["rule"], r["stage"]) for r in decision.reasons
            if r.get("source") == "monitoring"] == [("big-amount", "created"),
                                                    ("big-amount", "deposit_confirmed")]
    assert decision.list_versions["monitoring:big-amount"] == "1"
    case = Case.objects.get(decision=decision)
    assert case.subject_reference == transfer.reference
    assert not ConversionOrder.objects.filter(reference=transfer.reference).exists()
    assert entries(transfer) == ["funding", "float-reserve"]


def test_a_flagged_deposit_is_never_credited_and_the_address_closes_with_the_transfer(corridor):
    transfer = new_transfer(corridor)
    flagged = add_deposit(transfer)
    Deposit.objects.filter(pk=flagged.pk).update(flag=Deposit.Flag.ADDRESS_CLOSED)
    assert transfer_advance(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    flagged.refresh_from_db()
    assert flagged.credited_at is None
    assert entries(transfer) == []
    Transfer.objects.filter(pk=transfer.pk).update(
        deposit_expires_at=timezone.now() - timedelta(seconds=1))
    watcher_past_window(transfer)
    assert transfer_advance(transfer_id=transfer.pk).state == S.EXPIRED
    transfer.deposit_address.refresh_from_db()
    assert transfer.deposit_address.closed_at is not None
