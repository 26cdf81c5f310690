"""Refunds on a real chain (anvil): rejected transfers, overpayments and late deposits go back
through one path, to the refund destination rule, once; held ones wait for an operator.

Deposits are written as the watcher records them; every refund is really signed by the test
signer's hot wallet and mined on anvil, and each test counts the token's Transfer logs to the
destination to prove it left exactly once.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from eth_account import Account
from web3 import Web3

from gateway.ledger.models import JournalEntry
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Transfer
from gateway.transfers.services.deposits import transfer_deposit_progress, transfer_fund
from gateway.transfers.services.driver import transfer_advance
from gateway.transfers.services.machine import transfer_transition
from gateway.transfers.services.refunds import refunds_drive
from gateway.transfers.states import TransferState as S
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.client import TRANSFER_TOPIC
from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.devchain import dev_private_key, token_balance, token_deploy, token_mint
from ramps.chain.errors import DepositAlreadyRefundedError
from ramps.chain.models import Chain, Deposit, ExchangeAddress, OutboundTransaction
from ramps.chain.outbound import refund_destination_set
from ramps.chain.signer import signer_get
from tests.gateway.partners.factories import make_partner
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain
from tests.signer import HOT_WALLET_INDEX

pytestmark = pytest.mark.django_db
HOT_WALLET = Account.from_key(dev_private_key(HOT_WALLET_INDEX)).address
SENDER_WALLET = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"  # anvil dev account 5
OWN_WALLET = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"  # anvil dev account 6
PARTNER_WALLET = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"  # anvil dev account 7
CUSTODY = "assets:custody:eip155:31337"
AMOUNT = 100_000_000  # make_transfer's amount_in, 100 USDC in base units


@pytest.fixture
def refund_setup(db, anvil, settings, monkeypatch):
    settings.CHAIN_SIGNER = "tests.signer.build_signer"
    settings.CHAIN_EXCHANGE_ADDRESSES = []
    signer_get.cache_clear()
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(transfer_tasks.transfer_advance, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    token_mint(w3, token, HOT_WALLET, 10**12)
    chain = make_chain(rpc_url=anvil.rpc_url, confirmations=1)
    corridor = make_corridor(chain=chain, token_address=token)
    yield w3, token, corridor
    signer_get.cache_clear()


def sent_to(w3, token: str, to: str) -> list[str]:
    """Hashes of the token's Transfer logs from the hot wallet to ``to``: what left, on chain."""
    logs = w3.eth.get_logs({"address": token, "fromBlock": 0, "toBlock": "latest",
                            "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + HOT_WALLET[2:].lower(),
                                       "0x" + "0" * 24 + to[2:].lower()]})
    return [log["transactionHash"].to_0x_hex() for log in logs]


def add_deposit(transfer, *, amount=AMOUNT, payer=SENDER_WALLET, credited=False,
                flag=Deposit.Flag.NONE, block_time=None) -> Deposit:
    return Deposit.objects.create(
        chain=transfer.corridor.token.chain, token=transfer.corridor.token,
        deposit_address=transfer.deposit_address, tx_hash="0x" + secrets.token_hex(32),
        log_index=0, block_number=1, block_hash="0x" + secrets.token_hex(32),
        from_address=payer, amount=amount, status=Deposit.Status.CONFIRMED,
        confirmed_at=timezone.now(), credited_at=timezone.now() if credited else None,
        flag=flag, block_time=block_time)


def rejected_transfer(corridor, payer: str, **overrides) -> tuple:
    transfer = make_transfer(corridor=corridor, state=S.REJECTED, **overrides)
    deposit = add_deposit(transfer, payer=payer, credited=True)
    ledger_entry_post(
        reference=f"transfer:{transfer.public_id}:funding", description="funding",
        owner_reference=transfer.reference,
        legs=[debit(CUSTODY, "USDC", transfer.amount_in, kind="asset"),
              credit("liabilities:transfers:USDC", "USDC", transfer.amount_in,
                     kind="liability")])
    return transfer, deposit


def drive(transfer, times=4):
    for _ in range(times):
        transfer = transfer_advance(transfer_id=transfer.pk)
    return transfer


def assert_ledger_settled():
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(0)
    assert account_balance(code="liabilities:late_deposits", currency="USDC") == Decimal(0)
    assert account_balance(code=CUSTODY, currency="USDC") == Decimal(0)
    assert unbalanced_entries() == []


# --- rejected transfers ----------------------------------------------------------------------


def test_a_rejected_transfer_is_refunded_to_the_payer_once(refund_setup):
    w3, token, corridor = refund_setup
    before = token_balance(w3, token, SENDER_WALLET)
    transfer, deposit = rejected_transfer(corridor, SENDER_WALLET)

    transfer = drive(transfer)

    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, SENDER_WALLET) - before == deposit.amount
    refund = OutboundTransaction.objects.get()
    assert refund.reference == f"refund:{transfer.public_id}:{deposit.pk}"
    assert (refund.status, refund.to_address) == (OutboundTransaction.Status.CONFIRMED,
                                                  SENDER_WALLET)
    assert sent_to(w3, token, SENDER_WALLET) == [refund.tx_hash]
    assert_ledger_settled()
    assert [e.to_state for e in transfer.events.order_by("id")][-2:] == [S.REFUND_PENDING,
                                                                        S.REFUNDED]
    # Driving it again sends nothing more.
    assert drive(transfer).state == S.REFUNDED
    assert OutboundTransaction.objects.count() == 1
    assert sent_to(w3, token, SENDER_WALLET) == [refund.tx_hash]


@pytest.mark.parametrize(("transfer_address", "partner_address", "expected"), [
    (OWN_WALLET, PARTNER_WALLET, OWN_WALLET),
    ("", PARTNER_WALLET, PARTNER_WALLET),
])
def test_a_given_refund_address_wins_over_the_paying_address(refund_setup, transfer_address,
                                                             partner_address, expected):
    w3, token, corridor = refund_setup
    partner, _ = make_partner()
    partner.refund_address = partner_address
    partner.save()
    before = {a: token_balance(w3, token, a) for a in (SENDER_WALLET, OWN_WALLET,
                                                       PARTNER_WALLET)}
    transfer, deposit = rejected_transfer(corridor, SENDER_WALLET, partner=partner,
                                          refund_address=transfer_address)

    assert drive(transfer).state == S.REFUNDED

    after = {a: token_balance(w3, token, a) for a in before}
    assert {a: after[a] - before[a] for a in before} == {
        a: deposit.amount if a == expected else 0 for a in before}
    assert len(sent_to(w3, token, expected)) == 1
    assert OutboundTransaction.objects.get().to_address == expected
    assert_ledger_settled()


def _contract_payer(w3) -> str:
    """A contract address (a token contract of its own): what an exchange's or a smart
    wallet's sweep would pay from."""
    return Web3.to_checksum_address(token_deploy(w3, deployer=w3.eth.accounts[0], name="C",
                                                 symbol="C", decimals=6))


def test_a_refund_to_a_contract_waits_for_an_operator_who_sets_the_destination(
        refund_setup, admin_client):
    w3, token, corridor = refund_setup
    payer = _contract_payer(w3)
    transfer, _ = rejected_transfer(corridor, payer)

    transfer = drive(transfer)

    assert transfer.state == S.REFUND_PENDING
    refund = OutboundTransaction.objects.get()
    assert refund.status == OutboundTransaction.Status.NEEDS_DESTINATION
    assert (refund.to_address, refund.tx_hash, refund.nonce) == ("", "", None)
    assert refund.review_reason == (f"the paying address {payer} is a contract; no refund "
                                    "address was given")
    assert sent_to(w3, token, payer) == []
    assert account_balance(code=CUSTODY, currency="USDC") == transfer.amount_in
    assert "waiting for an operator" in transfer.events.order_by("-id").first().reason

    page = admin_client.get(reverse("admin:chain_refund_destination", args=[refund.pk]))
    assert page.status_code == 200
    assert "is a contract" in page.content.decode()
    refused = admin_client.post(reverse("admin:chain_refund_destination", args=[refund.pk]),
                                {"to_address": OWN_WALLET.lower()})
    assert refused.status_code == 200
    assert "EIP-55" in refused.content.decode()
    assert OutboundTransaction.objects.get().status == OutboundTransaction.Status.NEEDS_DESTINATION
    sent = admin_client.post(reverse("admin:chain_refund_destination", args=[refund.pk]),
                             {"to_address": OWN_WALLET})
    assert sent.status_code == 302

    refund.refresh_from_db()
    assert (refund.to_address, refund.destination_set_by) == (
        OWN_WALLET, sent.wsgi_request.user.get_username())
    assert refund.status == OutboundTransaction.Status.BROADCAST
    assert drive(transfer).state == S.REFUNDED
    assert sent_to(w3, token, OWN_WALLET) == [refund.tx_hash]
    assert sent_to(w3, token, payer) == []
    assert_ledger_settled()
    # A destination is set once: the refund may already be signed.
    with pytest.raises(Exception, match="only a held refund takes a destination"):
        refund_destination_set(outbound=refund, to_address=PARTNER_WALLET, operator="ops")
    again = admin_client.post(reverse("admin:chain_refund_destination", args=[refund.pk]),
                              {"to_address": PARTNER_WALLET})
    assert "only a held refund" in again.content.decode()
    assert sent_to(w3, token, PARTNER_WALLET) == []


@pytest.mark.parametrize("listed_by", ["setting", "admin row"])
def test_a_refund_to_a_known_exchange_wallet_waits_for_an_operator(refund_setup, settings,
                                                                    listed_by):
    w3, token, corridor = refund_setup
    exchange_wallet = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"  # anvil dev account 8
    if listed_by == "setting":
        settings.CHAIN_EXCHANGE_ADDRESSES = [exchange_wallet.lower()]
        label = "an exchange wallet listed in CHAIN_EXCHANGE_ADDRESSES"
    else:
        ExchangeAddress.objects.create(chain=corridor.token.chain, address=exchange_wallet,
                                       label="Example Exchange omnibus")
        label = "Example Exchange omnibus"
    transfer, _ = rejected_transfer(corridor, exchange_wallet)

    assert drive(transfer).state == S.REFUND_PENDING

    refund = OutboundTransaction.objects.get()
    assert refund.status == OutboundTransaction.Status.NEEDS_DESTINATION
    assert refund.review_reason == (f"the paying address {exchange_wallet} is {label}; no "
                                    "refund address was given")
    assert sent_to(w3, token, exchange_wallet) == []


def test_when_the_node_cannot_say_the_transfer_stays_rejected_and_nothing_is_stored(
        refund_setup):
    _, _, corridor = refund_setup
    transfer, _ = rejected_transfer(corridor, SENDER_WALLET)
    Chain.objects.filter(pk=corridor.token.chain_id).update(rpc_url="http://127.0.0.1:1")
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert OutboundTransaction.objects.count() == 0


def test_without_a_usable_signer_the_transfer_stays_rejected_and_nothing_is_sent(
        refund_setup, settings):
    w3, _token, corridor = refund_setup
    settings.CHAIN_SIGNER = "tests.gateway.transfers.test_refunds.no_such_signer"
    signer_get.cache_clear()
    transfer, _ = rejected_transfer(corridor, w3.eth.accounts[6])
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert OutboundTransaction.objects.count() == 0


# --- overpayments ----------------------------------------------------------------------------


def test_an_overpayment_is_refunded_once_and_the_ledger_gives_the_surplus_back(refund_setup):
    w3, token, corridor = refund_setup
    before = token_balance(w3, token, SENDER_WALLET)
    transfer = make_transfer(corridor=corridor)
    add_deposit(transfer, amount=60_000_000)
    last = add_deposit(transfer, amount=52_345_678)

    transfer = transfer_deposit_progress(transfer_id=transfer.pk)

    assert transfer.state == S.FUNDED
    refund = OutboundTransaction.objects.get()
    assert refund.reference == f"overpayment:{transfer.public_id}:{last.pk}"
    assert (refund.amount, refund.to_address, refund.status) == (
        12_345_678, SENDER_WALLET, OutboundTransaction.Status.CREATED)
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(
        "-12.345678")

    chain = corridor.token.chain
    for _ in range(3):
        refunds_drive(chain=chain)

    refund.refresh_from_db()
    assert refund.status == OutboundTransaction.Status.CONFIRMED
    assert token_balance(w3, token, SENDER_WALLET) - before == 12_345_678
    assert sent_to(w3, token, SENDER_WALLET) == [refund.tx_hash]
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(0)
    assert account_balance(code=CUSTODY, currency="USDC") == Decimal("100.000000")
    assert JournalEntry.objects.filter(
        reference=f"refund-final:{refund.reference}").count() == 1
    assert unbalanced_entries() == []
    assert OutboundTransaction.objects.count() == 1
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.FUNDED


def test_a_surplus_larger_than_any_deposit_is_taken_from_several(refund_setup):
    w3, token, corridor = refund_setup
    transfer = make_transfer(corridor=corridor)
    deposits = [add_deposit(transfer, amount=50_000_000) for _ in range(4)]

    transfer_deposit_progress(transfer_id=transfer.pk)

    # Two whole deposits of the four go back (the surplus is 100 of 200 USDC).
    refunds = OutboundTransaction.objects.all()
    assert sorted(r.amount for r in refunds) == [50_000_000, 50_000_000]
    assert len({r.deposit_id for r in refunds}) == 2
    assert {r.deposit_id for r in refunds} <= {d.pk for d in deposits}
    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)
    assert len(sent_to(w3, token, SENDER_WALLET)) == 2
    assert account_balance(code="liabilities:overpayments", currency="USDC") == Decimal(0)


def test_a_lost_overpayment_refund_is_recorded_by_the_drive_and_rejection_returns_the_rest(
        refund_setup):
    w3, token, corridor = refund_setup
    before = token_balance(w3, token, SENDER_WALLET)
    transfer = make_transfer(corridor=corridor, state=S.DEPOSIT_SEEN)
    add_deposit(transfer, amount=AMOUNT + 5_000_000)

    # The funding committed, the worker died before recording the surplus refund.
    transfer = transfer_fund(transfer_id=transfer.pk,
                             deposits=list(Deposit.objects.filter(chain=corridor.token.chain)))
    assert transfer.state == S.FUNDED
    assert OutboundTransaction.objects.count() == 0
    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)
    overpayment = OutboundTransaction.objects.get()
    assert (overpayment.amount, overpayment.status) == (5_000_000,
                                                       OutboundTransaction.Status.CONFIRMED)
    transfer_transition(transfer_id=transfer.pk, to_state=S.REJECTED, reason="test")
    assert drive(transfer).state == S.REFUNDED

    rejection = OutboundTransaction.objects.get(reference__startswith="refund:")
    assert rejection.amount == AMOUNT  # the surplus already went back
    assert token_balance(w3, token, SENDER_WALLET) - before == AMOUNT + 5_000_000
    assert sorted(sent_to(w3, token, SENDER_WALLET)) == sorted(
        [overpayment.tx_hash, rejection.tx_hash])
    assert_ledger_settled()


# --- late deposits ---------------------------------------------------------------------------


def test_a_late_deposit_to_an_expired_transfer_is_refunded_once(refund_setup):
    w3, token, corridor = refund_setup
    before = token_balance(w3, token, SENDER_WALLET)
    transfer = make_transfer(corridor=corridor, state=S.EXPIRED)
    late = add_deposit(transfer, amount=7_500_000, flag=Deposit.Flag.ADDRESS_CLOSED)

    refunds_drive(chain=corridor.token.chain)
    refund = OutboundTransaction.objects.get()
    assert (refund.reference, refund.deposit_id, refund.amount) == (
        f"late-deposit:{late.pk}", late.pk, 7_500_000)
    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)

    refund.refresh_from_db()
    assert refund.status == OutboundTransaction.Status.CONFIRMED
    assert token_balance(w3, token, SENDER_WALLET) - before == 7_500_000
    assert sent_to(w3, token, SENDER_WALLET) == [refund.tx_hash]
    assert_ledger_settled()
    assert JournalEntry.objects.filter(owner_reference=transfer.reference).count() == 2
    # A refunded deposit is never credited as well.
    with pytest.raises(DepositAlreadyRefundedError), transaction.atomic():
        deposit_mark_credited(deposit=late)
    assert OutboundTransaction.objects.count() == 1


def test_a_sender_sees_the_refund_of_a_deposit_paid_after_cancelling(refund_setup):
    """Cancelled, then paid (the payment was already on its way): the refund of that late
    deposit names only the deposit, and the transfer shows it like any other refund of its."""
    from gateway.transfers.selectors import transfer_refund_payments, transfers_refunds_prefetch

    _, _, corridor = refund_setup
    cancelled = make_transfer(corridor=corridor, state=S.CANCELLED)
    other = make_transfer(corridor=corridor, state=S.EXPIRED)
    late = add_deposit(cancelled, amount=42_170_000, flag=Deposit.Flag.ADDRESS_CLOSED)

    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)

    refund = OutboundTransaction.objects.get()
    assert (refund.reference, refund.status) == (f"late-deposit:{late.pk}",
                                                 OutboundTransaction.Status.CONFIRMED)
    shown = [(p.tx_hash, p.amount, p.to_address.lower(), p.status)
             for p in transfer_refund_payments(transfer=Transfer.objects.get(pk=cancelled.pk))]
    assert shown == [(refund.tx_hash, 42_170_000, SENDER_WALLET.lower(), "completed")]
    page = list(Transfer.objects.filter(pk__in=[cancelled.pk, other.pk]).order_by("pk"))
    transfers_refunds_prefetch(page)
    assert [[p.tx_hash for p in t._refund_payments] for t in page] == [[refund.tx_hash], []]
    assert transfer_refund_payments(transfer=Transfer.objects.get(pk=other.pk)) == []


def test_a_deposit_stamped_after_the_window_is_refunded_not_credited(refund_setup):
    w3, token, corridor = refund_setup
    transfer = make_transfer(corridor=corridor)
    late = add_deposit(transfer, block_time=transfer.deposit_expires_at + timedelta(seconds=1))
    Chain.objects.filter(pk=corridor.token.chain_id).update(
        cursor_block=5, cursor_block_time=transfer.deposit_expires_at + timedelta(seconds=1))

    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.EXPIRED
    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)

    late.refresh_from_db()
    assert late.credited_at is None
    refund = OutboundTransaction.objects.get()
    assert (refund.deposit_id, refund.status) == (late.pk, OutboundTransaction.Status.CONFIRMED)
    assert sent_to(w3, token, SENDER_WALLET).count(refund.tx_hash) == 1
    assert_ledger_settled()


def test_an_underpaid_transfer_on_hold_keeps_its_deposits_for_the_operator(refund_setup):
    _, _, corridor = refund_setup
    transfer = make_transfer(corridor=corridor, state=S.ON_HOLD, hold_reason="underpaid")
    add_deposit(transfer, amount=40_000_000)
    refunds_drive(chain=corridor.token.chain)
    assert OutboundTransaction.objects.count() == 0


def test_an_extra_deposit_after_funding_is_refunded_with_the_transfer_going_on(refund_setup):
    w3, token, corridor = refund_setup
    transfer = make_transfer(corridor=corridor)
    add_deposit(transfer)
    transfer = transfer_deposit_progress(transfer_id=transfer.pk)
    assert transfer.state == S.FUNDED
    extra = add_deposit(transfer, amount=3_000_000)  # seen before the close, final after

    refunds_drive(chain=corridor.token.chain)
    refunds_drive(chain=corridor.token.chain)

    refund = OutboundTransaction.objects.get()
    assert (refund.deposit_id, refund.amount, refund.status) == (
        extra.pk, 3_000_000, OutboundTransaction.Status.CONFIRMED)
    assert sent_to(w3, token, SENDER_WALLET) == [refund.tx_hash]
    assert account_balance(code="liabilities:late_deposits", currency="USDC") == Decimal(0)
    assert account_balance(code=CUSTODY, currency="USDC") == Decimal("100.000000")
