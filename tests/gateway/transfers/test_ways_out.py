"""Every waiting state has a way out, and none of them pays twice.

Each test drives a transfer into a state that no automatic step moves on (a failed payout, an
underpayment after the window, a rejected conversion, a deep reorg under a compliance hold,
uncollected cash) and out again through its named action, on the real parts: the Daraja sandbox
(payments counted per transfer), the sandbox exchange through ccxt, and anvil for refunds.
"""

import json
import secrets
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import TestCase
from django.utils import timezone
from eth_account import Account

from compliance.models import ScreeningDecision
from compliance.services import sanctions_import
from gateway.common.crypto import encrypt_text
from gateway.common.problems import DomainError, InvalidTransitionError
from gateway.ledger.models import LedgerAccount
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.actions import (
    operator_decide,
    transfer_funding_lost,
    transfer_held_refund,
    transfer_payout_failed_review,
    transfer_payout_refund,
    transfer_payout_settle,
    transfer_reorg_clear,
    transfer_underpaid_accept,
    transfer_underpaid_refund,
)
from gateway.transfers.services.conversion import transfer_release_hold
from gateway.transfers.services.driver import transfer_advance, transfers_stuck
from gateway.transfers.services.payouts import (
    CorrectionClosedError,
    transfer_payout_correct,
    transfer_payout_retry,
)
from gateway.transfers.states import TransferState
from gateway.transfers.watch import transfer_hold_for_deep_reorg
from gateway.treasury.models import FloatReservation
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.devchain import (
    ANVIL_MNEMONIC,
    dev_private_key,
    token_balance,
    token_deploy,
    token_mint,
)
from ramps.chain.models import Chain, Deposit, OutboundTransaction
from ramps.chain.signer import KeystoreSigner, signer_get
from ramps.liquidity.models import ConversionOrder
from ramps.payouts.models import PayoutAttempt, PayoutCallback
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain

S = TransferState
K = LedgerAccount.Kind
HOT_WALLET_INDEX = 2
PAID = "+254708374149"  # Daraja sandbox: last digit 9 pays
NOT_REGISTERED = "+254708374142"  # last digit 2: accepted, then ResultCode 2040, nothing paid
RAIL_FLOAT = Decimal("1000000.00")
CRYPTO_DIR = (Path(__file__).resolve().parents[3] / "compliance" / "data" / "sanctions"
              / "crypto-addresses-2024-09")


def build_signer() -> KeystoreSigner:
    """The chain signer of these tests (named in settings.CHAIN_SIGNER)."""
    keystore = Account.encrypt(dev_private_key(HOT_WALLET_INDEX), "pw", kdf="pbkdf2",
                               iterations=2)
    return KeystoreSigner(keystore=keystore, password="pw",
                          mnemonic_encrypted=encrypt_text(ANVIL_MNEMONIC), account=1)


@pytest.fixture
def world(db, anvil, settings, monkeypatch, exchange_venue, daraja_rail, callback_receiver):
    """A corridor on anvil (a real token the hot wallet holds, for refunds), the sandbox
    exchange and the Daraja sandbox, with rail float; nothing queued behind the test."""
    settings.CHAIN_SIGNER = "tests.gateway.transfers.test_ways_out.build_signer"
    settings.PUBLIC_BASE_URL = callback_receiver.base_url
    signer_get.cache_clear()
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(transfer_tasks.transfer_advance, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    hot_wallet = Account.from_key(dev_private_key(HOT_WALLET_INDEX)).address
    token_mint(w3, token, hot_wallet, 10**12)
    chain = make_chain(rpc_url=anvil.rpc_url, confirmations=1)
    corridor = make_corridor(chain=chain, token_address=token, venue=exchange_venue,
                             rail=daraja_rail)
    sanctions_import(source="ofac-crypto", files=sorted(CRYPTO_DIR.glob("*.json")))
    ledger_entry_post(
        reference=f"test:float:{daraja_rail.code}", description="Opening float",
        legs=[debit(f"assets:float:{daraja_rail.code}", "KES", RAIL_FLOAT, kind=K.ASSET,
                    floor=True),
              credit("equity:opening-balances", "KES", RAIL_FLOAT, kind=K.EQUITY)])
    yield w3, token, corridor, callback_receiver
    signer_get.cache_clear()


def new_transfer(corridor, *, phone=PAID, **overrides) -> Transfer:
    partner, _ = make_partner()
    return make_transfer(partner=partner, corridor=corridor,
                         recipient={"name": "Joseph Mwangi", "phone_number": phone}, **overrides)


def pay_in(transfer, payer: str, *, amount: int | None = None) -> Deposit:
    """A confirmed deposit as the watcher records it (the refund is sent on the real chain)."""
    return Deposit.objects.create(
        chain=transfer.corridor.token.chain, token=transfer.corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=1, block_hash="0x" + secrets.token_hex(32),
        from_address=payer, amount=transfer.amount_in_base_units if amount is None else amount,
        status=Deposit.Status.CONFIRMED, confirmed_at=timezone.now())


def deliver_results(client, receiver, attempt) -> None:
    """Post the sandbox's result callbacks for ``attempt`` to the gateway, as Daraja would.

    A failure is held until Daraja's status query confirms it: the query leaves when the
    callback's transaction commits (run here, the test's transaction never commits) and its
    answer comes back to the receiver, so answers are delivered too until none is held.
    """
    receiver.wait_for(attempt.reference)
    delivered: set[int] = set()
    deadline = time.monotonic() + 15
    while True:
        for result in receiver.matching(attempt.reference):
            if id(result) in delivered:
                continue
            delivered.add(id(result))
            body = json.dumps(result.body, default=lambda d: int(d) if d == d.to_integral()
                              else float(d))
            with TestCase.captureOnCommitCallbacks(execute=True):
                assert client.post(result.path, data=body,
                                   content_type="application/json").status_code == 200
        if not PayoutCallback.objects.filter(
                attempt=attempt, processing_status=PayoutCallback.ProcessingStatus.UNCONFIRMED
        ).exists():
            return
        assert time.monotonic() < deadline, "the status query's answer did not come"
        time.sleep(0.05)


def paid(sandbox, transfer) -> list[dict]:
    references = set(PayoutAttempt.objects.filter(owner_reference=transfer.reference)
                     .values_list("reference", flat=True))
    return [p for p in sandbox.payments if p["reference"] in references]


def fail_payout(corridor, receiver, client, daraja_sandbox) -> Transfer:
    transfer = new_transfer(corridor, phone=NOT_REGISTERED)
    pay_in(transfer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING, transfer.hold_reason
    deliver_results(client, receiver, PayoutAttempt.objects.get(
        owner_reference=transfer.reference))
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert paid(daraja_sandbox, transfer) == []
    return transfer


def reservation(transfer) -> str:
    return FloatReservation.objects.get(transfer_reference=transfer.reference).status


# --- a failed payout ------------------------------------------------------------------------


def test_a_failed_payout_keeps_its_float_and_the_senders_correction_pays_once(
        world, client, daraja_sandbox):
    _w3, _token, corridor, receiver = world
    transfer = fail_payout(corridor, receiver, client, daraja_sandbox)
    assert transfer.sender_status == "pending_transaction_info_update"
    assert reservation(transfer) == FloatReservation.Status.RESERVED
    # A correction that is not a payable number changes nothing.
    with pytest.raises(DomainError):
        transfer_payout_correct(transfer_id=transfer.pk, recipient_phone="+254202222222",
                                actor="partner:test")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED

    transfer = transfer_payout_correct(transfer_id=transfer.pk, recipient_phone="0708374149",
                                       recipient_name="Joseph  Mwangi", actor="partner:test")
    assert transfer.state == S.PAYOUT_PENDING
    assert transfer.recipient["phone_number"] == PAID
    transfer = transfer_advance(transfer_id=transfer.pk)
    attempts = list(PayoutAttempt.objects.filter(owner_reference=transfer.reference)
                    .order_by("id"))
    assert [a.recipient_msisdn for a in attempts] == [NOT_REGISTERED, PAID]
    deliver_results(client, receiver, attempts[-1])
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert reservation(transfer) == FloatReservation.Status.COMMITTED
    assert account_balance(code=f"assets:float:{corridor.rail.code}", currency="KES") == (
        RAIL_FLOAT - transfer.amount_out)
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal(0)
    assert unbalanced_entries() == []
    # The same correction again, now that it is paid: refused, nothing sent.
    with pytest.raises(InvalidTransitionError):
        transfer_payout_correct(transfer_id=transfer.pk, recipient_phone=PAID, actor="p")
    assert len(paid(daraja_sandbox, transfer)) == 1


def test_an_operator_retries_a_failed_payout_without_paying_twice(world, client,
                                                                  daraja_sandbox):
    _w3, _token, corridor, receiver = world
    transfer = fail_payout(corridor, receiver, client, daraja_sandbox)
    with pytest.raises(DomainError, match="reason"):
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note=" ")
    with pytest.raises(DomainError, match="No active rail"):
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="x",
                              rail_code="no-such-rail")
    # The operator fixed the number with the recipient by phone, then retried.
    Transfer.objects.filter(pk=transfer.pk).update(
        recipient={"name": "Joseph Mwangi", "phone_number": PAID})
    transfer = transfer_payout_retry(transfer_id=transfer.pk, operator="ops",
                                     note="number confirmed by phone")
    assert transfer.state == S.PAYOUT_PENDING
    with pytest.raises(InvalidTransitionError):  # a second click while it is pending
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="again")
    transfer = transfer_advance(transfer_id=transfer.pk)
    deliver_results(client, receiver, PayoutAttempt.objects.filter(
        owner_reference=transfer.reference).latest("id"))
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 2


def test_a_failed_payout_is_refunded_on_chain_once_when_the_correction_window_closes(
        world, client, daraja_sandbox):
    w3, token, corridor, receiver = world
    payer = w3.eth.accounts[6]
    before = token_balance(w3, token, payer)
    transfer = new_transfer(corridor, phone=NOT_REGISTERED)
    deposit = pay_in(transfer, payer)
    transfer = transfer_advance(transfer_id=transfer.pk)
    deliver_results(client, receiver, PayoutAttempt.objects.get(
        owner_reference=transfer.reference))
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert transfer.pk not in transfers_stuck(older_than_seconds=0)  # the window is open
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_FAILED

    # The window closes: the re-drive picks it up and the refund goes out once.
    Transfer.objects.filter(pk=transfer.pk).update(
        state_changed_at=timezone.now() - corridor.correction_window - timedelta(seconds=1))
    with pytest.raises(CorrectionClosedError):
        transfer_payout_correct(transfer_id=transfer.pk, recipient_phone=PAID, actor="p")
    assert transfer.pk in transfers_stuck(older_than_seconds=0)
    transfer = transfer_payout_failed_review(transfer_id=transfer.pk)  # the driver's step
    assert transfer.state == S.REFUND_PENDING
    for _ in range(3):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, payer) - before == deposit.amount
    assert OutboundTransaction.objects.filter(to_address=payer).count() == 1
    assert reservation(transfer) == FloatReservation.Status.RELEASED
    assert paid(daraja_sandbox, transfer) == []
    # The payout liability that was never paid is reversed; the sale stays on the books.
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal(0)
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code=f"assets:float:{corridor.rail.code}", currency="KES") == (
        RAIL_FLOAT)
    assert unbalanced_entries() == []
    assert transfer_advance(transfer_id=transfer.pk).state == S.REFUNDED
    assert OutboundTransaction.objects.count() == 1


def test_an_operator_refund_of_a_failed_payout_is_final_and_cannot_be_corrected_after(
        world, client, daraja_sandbox):
    _w3, _token, corridor, receiver = world
    transfer = fail_payout(corridor, receiver, client, daraja_sandbox)
    with pytest.raises(DomainError, match="reason"):
        transfer_payout_refund(transfer_id=transfer.pk, actor="operator:ops", note="")
    transfer = transfer_payout_refund(transfer_id=transfer.pk, actor="operator:ops",
                                      note="sender asked for the money back")
    assert transfer.state == S.REFUND_PENDING
    with pytest.raises(InvalidTransitionError):
        transfer_payout_correct(transfer_id=transfer.pk, recipient_phone=PAID, actor="p")
    for _ in range(3):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert paid(daraja_sandbox, transfer) == []
    assert unbalanced_entries() == []


# --- an underpayment ------------------------------------------------------------------------


def underpaid(corridor, payer) -> tuple[Transfer, Deposit]:
    transfer = new_transfer(corridor)
    deposit = pay_in(transfer, payer, amount=transfer.amount_in_base_units // 2)
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.DEPOSIT_SEEN
    Transfer.objects.filter(pk=transfer.pk).update(
        deposit_expires_at=timezone.now() - timedelta(seconds=1))
    # The watcher has scanned a block stamped after the window (expiry follows chain time).
    Chain.objects.filter(pk=corridor.token.chain_id).update(
        cursor_block_time=timezone.now() + timedelta(seconds=1))
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.UNDERPAID])
    return transfer, deposit


def test_an_underpaid_transfer_is_refunded_what_it_received(world, daraja_sandbox):
    w3, token, corridor, _receiver = world
    payer = w3.eth.accounts[7]
    before = token_balance(w3, token, payer)
    transfer, deposit = underpaid(corridor, payer)
    # Neither an approval nor a treasury release moves an underpayment.
    with pytest.raises(InvalidTransitionError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="x")
    transfer = transfer_underpaid_refund(transfer_id=transfer.pk, operator="ops",
                                         note="sender asked")
    assert transfer.state == S.REFUND_PENDING
    for _ in range(3):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, payer) - before == deposit.amount
    assert ConversionOrder.objects.filter(reference__startswith=transfer.reference).count() == 0
    assert paid(daraja_sandbox, transfer) == []
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code=f"assets:custody:{corridor.token.chain.caip2}",
                           currency="USDC") == Decimal(0)
    assert unbalanced_entries() == []
    with pytest.raises(InvalidTransitionError):  # a second click
        transfer_underpaid_refund(transfer_id=transfer.pk, operator="ops", note="again")


def test_an_underpaid_transfer_accepted_pays_the_lower_amount_at_a_new_quote(
        world, client, daraja_sandbox):
    w3, _token, corridor, receiver = world
    transfer, deposit = underpaid(corridor, w3.eth.accounts[8])
    old_out = transfer.amount_out
    transfer = transfer_underpaid_accept(transfer_id=transfer.pk, operator="ops",
                                         note="sender agreed to the lower amount")
    assert transfer.state == S.FUNDED
    assert transfer.amount_in_base_units == deposit.amount
    assert Decimal(0) < transfer.amount_out < old_out
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert attempt.amount == transfer.amount_out
    deliver_results(client, receiver, attempt)
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert unbalanced_entries() == []


# --- a conversion the venue rejected --------------------------------------------------------


def test_a_rejected_conversion_is_released_with_a_new_order(world, exchange_sandbox,
                                                            daraja_sandbox, client):
    _w3, _token, corridor, receiver = world
    transfer = new_transfer(corridor)
    pay_in(transfer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    exchange_sandbox.control({"action": "reject_next_order",
                              "error_code": "ErrInsufficientBalance"})
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.CONVERSION])
    [first] = ConversionOrder.objects.filter(reference__startswith=transfer.reference)
    assert first.status == ConversionOrder.Status.REJECTED
    transfer = transfer_release_hold(transfer_id=transfer.pk, operator="ops",
                                     note="venue back")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    orders = list(ConversionOrder.objects.filter(reference__startswith=transfer.reference)
                  .order_by("id"))
    assert [o.status for o in orders] == [ConversionOrder.Status.REJECTED,
                                          ConversionOrder.Status.FILLED]
    assert orders[1].client_order_id != orders[0].client_order_id
    assert orders[1].reference == f"{transfer.reference}:2"
    deliver_results(client, receiver, PayoutAttempt.objects.get(
        owner_reference=transfer.reference))
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert unbalanced_entries() == []


def test_a_conversion_the_venue_keeps_refusing_is_refunded_by_an_operator(
        world, exchange_sandbox, daraja_sandbox):
    """A venue that refuses the order every time (a market closed, an account restricted):
    releasing would only place another refused order, so the operator refunds it instead;
    nothing was sold, everything credited goes back once, the float returns."""
    w3, token, corridor, _receiver = world
    payer = w3.eth.accounts[8]
    before = token_balance(w3, token, payer)
    transfer = new_transfer(corridor)
    deposit = pay_in(transfer, payer)
    exchange_sandbox.control({"action": "reject_next_order",
                              "error_code": "ErrInsufficientBalance"})
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.CONVERSION])
    with pytest.raises(DomainError, match="reason"):
        transfer_held_refund(transfer_id=transfer.pk, operator="ops", note=" ")

    transfer = transfer_held_refund(transfer_id=transfer.pk, operator="ops",
                                    note="venue closed the market")

    assert transfer.state == S.REFUND_PENDING
    assert reservation(transfer) == FloatReservation.Status.RELEASED
    with pytest.raises(InvalidTransitionError):  # a second click, or a release after it
        transfer_held_refund(transfer_id=transfer.pk, operator="ops", note="again")
    with pytest.raises(InvalidTransitionError):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="venue back")
    for _ in range(3):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, payer) - before == deposit.amount
    assert OutboundTransaction.objects.filter(to_address=payer).count() == 1
    assert [o.status for o in ConversionOrder.objects.filter(
        reference__startswith=transfer.reference)] == [ConversionOrder.Status.REJECTED]
    assert paid(daraja_sandbox, transfer) == []
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code=f"assets:float:{corridor.rail.code}", currency="KES") == (
        RAIL_FLOAT)
    assert unbalanced_entries() == []


def test_a_held_refund_is_refused_once_part_was_sold_or_for_holds_with_their_own_way_out(
        world, exchange_sandbox):
    _w3, _token, corridor, _receiver = world
    transfer = new_transfer(corridor)
    pay_in(transfer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    exchange_sandbox.control({"action": "reject_next_order",
                              "error_code": "ErrInsufficientBalance"})
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.holds == [HoldKind.CONVERSION]
    ConversionOrder.objects.filter(reference=transfer.reference).update(
        filled_base=Decimal("1.00"))
    with pytest.raises(DomainError, match="release") as refused:
        transfer_held_refund(transfer_id=transfer.pk, operator="ops", note="x")
    assert refused.value.slug == "conversion-partly-filled"
    for holds in ([HoldKind.CONVERSION, HoldKind.REORG], [HoldKind.UNDERPAID],
                  [HoldKind.COMPLIANCE], [HoldKind.FLOAT]):
        Transfer.objects.filter(pk=transfer.pk).update(holds=holds)
        with pytest.raises(InvalidTransitionError):
            transfer_held_refund(transfer_id=transfer.pk, operator="ops", note="x")
    transfer.refresh_from_db()
    assert transfer.state == S.ON_HOLD
    assert OutboundTransaction.objects.count() == 0


# --- a deep reorg under another hold --------------------------------------------------------


def test_holds_stack_and_a_reorg_hold_survives_a_compliance_approval(world, maker, checker):
    w3, _token, corridor, _receiver = world
    corridor.review_amount_in = Decimal("1")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    deposit = pay_in(transfer, w3.eth.accounts[9])
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.COMPLIANCE])
    # The credited deposit leaves the chain while the case is open.
    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REORGED)
    transfer_hold_for_deep_reorg(deposit_address_id=transfer.deposit_address_id,
                                 tx_hash=deposit.tx_hash)
    transfer.refresh_from_db()
    assert transfer.holds == [HoldKind.COMPLIANCE, HoldKind.REORG]
    # The approval clears the case, not the reorg: nothing converts, nothing is paid.
    operator_decide(transfer_id=transfer.pk, approve=True, operator=maker, note="ok")
    operator_decide(transfer_id=transfer.pk, approve=True, operator=checker, note="ok")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.REORG])
    assert transfer.compliance_decision.outcome == ScreeningDecision.Outcome.APPROVE
    assert not ConversionOrder.objects.filter(reference__startswith=transfer.reference).exists()
    with pytest.raises(InvalidTransitionError, match="reorg"):
        transfer_release_hold(transfer_id=transfer.pk, operator="ops", note="release")
    with pytest.raises(InvalidTransitionError, match="off the chain"):
        transfer_reorg_clear(transfer_id=transfer.pk, operator="ops", note="back?")
    transfer = transfer_funding_lost(transfer_id=transfer.pk, operator="ops",
                                     note="deposit never came back")
    assert (transfer.state, transfer.holds) == (S.CANCELLED, [])
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code=f"assets:custody:{corridor.token.chain.caip2}",
                           currency="USDC") == Decimal(0)
    assert not OutboundTransaction.objects.exists()
    assert unbalanced_entries() == []


def test_a_reorg_hold_clears_once_the_deposit_is_final_again(world):
    w3, _token, corridor, _receiver = world
    corridor.review_amount_in = Decimal("1")
    corridor.save(update_fields=["review_amount_in"])
    transfer = new_transfer(corridor)
    deposit = pay_in(transfer, w3.eth.accounts[9])
    transfer = transfer_advance(transfer_id=transfer.pk)
    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.REORGED)
    transfer_hold_for_deep_reorg(deposit_address_id=transfer.deposit_address_id,
                                 tx_hash=deposit.tx_hash)
    Deposit.objects.filter(pk=deposit.pk).update(status=Deposit.Status.CONFIRMED)
    transfer = transfer_reorg_clear(transfer_id=transfer.pk, operator="ops",
                                    note="re-included in block 12")
    assert (transfer.state, transfer.holds) == (S.ON_HOLD, [HoldKind.COMPLIANCE])
    with pytest.raises(InvalidTransitionError):
        transfer_funding_lost(transfer_id=transfer.pk, operator="ops", note="x")


def test_a_recipient_found_unpayable_after_conversion_waits_for_a_correction(
        world, client, daraja_sandbox):
    """A transfer created before recipients were checked at creation (a landline): converted,
    it fails once at payout_failed (not at every re-drive) and the correction pays it."""
    _w3, _token, corridor, receiver = world
    transfer = new_transfer(corridor, phone="+254202222222")
    pay_in(transfer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_FAILED
    assert transfer.events.order_by("-id").first().data["failure_kind"] == "recipient"
    assert not PayoutAttempt.objects.filter(owner_reference=transfer.reference).exists()
    assert transfer_advance(transfer_id=transfer.pk).state == S.PAYOUT_FAILED
    transfer = transfer_payout_correct(transfer_id=transfer.pk, recipient_phone=PAID,
                                       actor="partner:test")
    transfer = transfer_advance(transfer_id=transfer.pk)
    deliver_results(client, receiver, PayoutAttempt.objects.get(
        owner_reference=transfer.reference))
    transfer.refresh_from_db()
    assert transfer.state == S.COMPLETED
    assert len(paid(daraja_sandbox, transfer)) == 1
    assert unbalanced_entries() == []


def test_uncollected_cash_under_a_refund_rule_is_refunded_on_chain_once(world):
    from ramps.payouts.agents.models import CashPickupCorridor, Redemption
    from ramps.payouts.agents.services import redemption_uncollected_handle
    from tests.ramps.payouts.agents.factories import make_cash_transfer, make_network

    w3, token, corridor, _receiver = world
    corridor.payout_method = "cash_pickup"
    corridor.save(update_fields=["payout_method"])
    CashPickupCorridor.objects.create(corridor=corridor, network=make_network("duka"),
                                      uncollected_action="refund")
    transfer, redemption, _code = make_cash_transfer(corridor)
    payer = w3.eth.accounts[4]
    before = token_balance(w3, token, payer)
    deposit = pay_in(transfer, payer)
    Deposit.objects.filter(pk=deposit.pk).update(credited_at=timezone.now())
    ledger_entry_post(
        reference=f"transfer:{transfer.public_id}:funding", description="funding",
        owner_reference=transfer.reference,
        legs=[debit(f"assets:custody:{corridor.token.chain.caip2}", "USDC", transfer.amount_in,
                    kind=K.ASSET),
              credit("liabilities:transfers:USDC", "USDC", transfer.amount_in,
                     kind=K.LIABILITY)])
    Redemption.objects.filter(pk=redemption.pk).update(expires_at=timezone.now())
    redemption_uncollected_handle(redemption_id=redemption.pk)
    redemption_uncollected_handle(redemption_id=redemption.pk)  # a duplicate task
    transfer.refresh_from_db()
    assert transfer.state == S.REFUND_PENDING
    for _ in range(3):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, payer) - before == deposit.amount
    assert OutboundTransaction.objects.filter(to_address=payer).count() == 1
    assert Redemption.objects.get(pk=redemption.pk).status == Redemption.Status.CANCELLED
    # The cash nobody collected is no longer owed to the recipient.
    assert account_balance(code="liabilities:payouts:KES", currency="KES") == Decimal(0)
    assert unbalanced_entries() == []


STUCK_PENDING = "+254708374147"  # last digit 7: accepted, never completes, status query: Pending


@pytest.mark.parametrize("paid_out", [True, False])
def test_a_payout_the_provider_never_settles_is_settled_by_hand_once(world, daraja_sandbox,
                                                                     paid_out):
    _w3, _token, corridor, _receiver = world
    transfer = new_transfer(corridor, phone=STUCK_PENDING)
    pay_in(transfer, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.PAYOUT_PENDING
    with pytest.raises(DomainError, match="reason"):
        transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=paid_out, note="")
    transfer = transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=paid_out,
                                      note="checked on the provider's portal")
    attempt = PayoutAttempt.objects.get(owner_reference=transfer.reference)
    assert attempt.status == (PayoutAttempt.Status.SUCCEEDED if paid_out
                              else PayoutAttempt.Status.FAILED)
    assert transfer.state == (S.COMPLETED if paid_out else S.PAYOUT_FAILED)
    assert reservation(transfer) == (FloatReservation.Status.COMMITTED if paid_out
                                     else FloatReservation.Status.RESERVED)
    with pytest.raises(InvalidTransitionError):  # a second verdict is refused
        transfer_payout_settle(transfer_id=transfer.pk, operator="ops", paid=not paid_out,
                               note="changed my mind")
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    assert unbalanced_entries() == []


def test_a_failed_payout_under_a_new_compliance_hit_is_not_restarted(world, client,
                                                                      daraja_sandbox):
    _w3, _token, corridor, receiver = world
    transfer = fail_payout(corridor, receiver, client, daraja_sandbox)
    # A list change found a hit while the payout waited for its correction.
    ScreeningDecision.objects.create(
        subject_reference=transfer.reference, outcome=ScreeningDecision.Outcome.HOLD,
        reasons=[{"rule": "sanctions-name"}], rules_version="t", list_versions={})
    with pytest.raises(DomainError, match="under compliance review"):
        transfer_payout_correct(transfer_id=transfer.pk, recipient_phone=PAID, actor="p")
    with pytest.raises(DomainError, match="under compliance review"):
        transfer_payout_retry(transfer_id=transfer.pk, operator="ops", note="retry")
    transfer.refresh_from_db()
    assert transfer.state == S.PAYOUT_FAILED
    assert PayoutAttempt.objects.filter(owner_reference=transfer.reference).count() == 1
    assert paid(daraja_sandbox, transfer) == []
