"""A rejected transfer is refunded on a real chain: the deposit goes back to the address that
paid it, once, and the ledger gives the custody back when the refund is final."""

import secrets
from decimal import Decimal

import pytest
from django.utils import timezone
from eth_account import Account

from gateway.common.crypto import encrypt_text
from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.ledger.services import credit, debit, ledger_entry_post
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.services import transfer_advance
from gateway.transfers.states import TransferState as S
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.devchain import (
    ANVIL_MNEMONIC,
    dev_private_key,
    token_balance,
    token_deploy,
    token_mint,
)
from ramps.chain.models import Deposit, OutboundTransaction
from ramps.chain.signer import KeystoreSigner, signer_get
from tests.factories import make_chain, make_corridor, make_transfer

HOT_WALLET_INDEX = 2


def build_signer() -> KeystoreSigner:
    """The chain signer of this test (named in settings.CHAIN_SIGNER)."""
    keystore = Account.encrypt(dev_private_key(HOT_WALLET_INDEX), "pw", kdf="pbkdf2",
                               iterations=2)
    return KeystoreSigner(keystore=keystore, password="pw",
                          mnemonic_encrypted=encrypt_text(ANVIL_MNEMONIC), account=1)


@pytest.fixture
def refund_setup(db, anvil, settings, monkeypatch):
    settings.CHAIN_SIGNER = "tests.gateway.transfers.test_refunds.build_signer"
    signer_get.cache_clear()
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    hot_wallet = Account.from_key(dev_private_key(HOT_WALLET_INDEX)).address
    token_mint(w3, token, hot_wallet, 10**12)
    chain = make_chain(rpc_url=anvil.rpc_url, confirmations=1)
    corridor = make_corridor(chain=chain, token_address=token)
    yield w3, token, corridor
    signer_get.cache_clear()


def rejected_transfer(corridor, payer: str) -> tuple:
    transfer = make_transfer(corridor=corridor, state=S.REJECTED)
    deposit = Deposit.objects.create(
        chain=corridor.token.chain, token=corridor.token, deposit_address=transfer.deposit_address,
        tx_hash="0x" + secrets.token_hex(32), log_index=0, block_number=1,
        block_hash="0x" + secrets.token_hex(32), from_address=payer,
        amount=transfer.amount_in_base_units, status=Deposit.Status.CONFIRMED,
        confirmed_at=timezone.now(), credited_at=timezone.now())
    ledger_entry_post(
        reference=f"transfer:{transfer.public_id}:funding", description="funding",
        owner_reference=transfer.reference,
        legs=[debit(f"assets:custody:{corridor.token.chain.caip2}", "USDC", transfer.amount_in,
                    kind="asset"),
              credit("liabilities:transfers:USDC", "USDC", transfer.amount_in,
                     kind="liability")])
    return transfer, deposit


def test_a_rejected_transfer_is_refunded_to_the_payer_once(refund_setup):
    w3, token, corridor = refund_setup
    payer = w3.eth.accounts[5]
    before = token_balance(w3, token, payer)
    transfer, deposit = rejected_transfer(corridor, payer)

    for _ in range(4):
        transfer = transfer_advance(transfer_id=transfer.pk)
    assert transfer.state == S.REFUNDED
    assert token_balance(w3, token, payer) - before == deposit.amount
    refund = OutboundTransaction.objects.get()
    assert refund.reference == f"refund:{transfer.public_id}:{deposit.pk}"
    assert refund.status == OutboundTransaction.Status.CONFIRMED
    assert account_balance(code="liabilities:transfers:USDC", currency="USDC") == Decimal(0)
    assert account_balance(code=f"assets:custody:{corridor.token.chain.caip2}",
                           currency="USDC") == Decimal(0)
    assert unbalanced_entries() == []
    assert [e.to_state for e in transfer.events.order_by("id")][-2:] == [S.REFUND_PENDING,
                                                                        S.REFUNDED]

    # Driving it again sends nothing more.
    assert transfer_advance(transfer_id=transfer.pk).state == S.REFUNDED
    assert OutboundTransaction.objects.count() == 1
    assert token_balance(w3, token, payer) - before == deposit.amount


def test_without_a_usable_signer_the_transfer_stays_rejected_and_nothing_is_sent(
        refund_setup, settings):
    w3, _token, corridor = refund_setup
    settings.CHAIN_SIGNER = "tests.gateway.transfers.test_refunds.no_such_signer"
    signer_get.cache_clear()
    transfer, _ = rejected_transfer(corridor, w3.eth.accounts[6])
    assert transfer_advance(transfer_id=transfer.pk).state == S.REJECTED
    assert OutboundTransaction.objects.count() == 0
