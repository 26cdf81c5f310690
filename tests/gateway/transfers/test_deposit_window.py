"""The deposit window follows chain time on a real anvil: a transfer expires only once the
watcher has scanned past the window's end, a payment inside the window that the watcher sees
late is credited, and a payment stamped after the window is refunded on chain, never credited.
"""

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from gateway.ledger.selectors import account_balance, unbalanced_entries
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import Transfer
from gateway.transfers.services.deposits import deposit_window_ended, transfer_deposit_progress
from gateway.transfers.states import TransferState as S
from gateway.transfers.watch import chain_poll
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.devchain import (
    dev_private_key,
    mine,
    token_balance,
    token_deploy,
    token_mint,
    token_transfer,
)
from ramps.chain.models import Chain, Deposit, OutboundTransaction
from ramps.chain.signer import signer_get
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain
from tests.signer import HOT_WALLET_INDEX

pytestmark = pytest.mark.django_db
PAYER_INDEX = 5


@pytest.fixture
def world(anvil, settings, monkeypatch):
    settings.CHAIN_SIGNER = "tests.signer.build_signer"
    signer_get.cache_clear()
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(transfer_tasks.transfer_advance, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    token_mint(w3, token, w3.eth.accounts[PAYER_INDEX], 10**12)
    token_mint(w3, token, Account.from_key(dev_private_key(HOT_WALLET_INDEX)).address, 10**12)
    chain = make_chain(rpc_url=anvil.rpc_url, confirmations=1,
                       start_block=w3.eth.block_number + 1)
    corridor = make_corridor(chain=chain, token_address=token)
    yield w3, token, corridor
    signer_get.cache_clear()


def pay(w3, token, transfer, amount=None) -> datetime:
    """Pay the transfer's deposit address; returns the payment block's time (chain time)."""
    tx_hash = token_transfer(w3, token, to=transfer.deposit_address.address,
                             amount_base_units=amount or transfer.amount_in_base_units,
                             sender=w3.eth.accounts[PAYER_INDEX])
    block = w3.eth.get_block(w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])
    return datetime.fromtimestamp(block["timestamp"], tz=UTC)


def chain_moves_on(w3, seconds: int = 5) -> None:
    """Chain time passes: a block stamped ``seconds`` later."""
    w3.provider.make_request("evm_increaseTime", [seconds])
    mine(w3, 1)


def window_ends_at(transfer, when: datetime) -> Transfer:
    Transfer.objects.filter(pk=transfer.pk).update(deposit_expires_at=when)
    return Transfer.objects.get(pk=transfer.pk)


def test_a_payment_in_the_window_seen_late_by_the_watcher_is_credited(world):
    w3, token, corridor = world
    transfer = make_transfer(corridor=corridor)
    paid_at = pay(w3, token, transfer)
    transfer = window_ends_at(transfer, paid_at + timedelta(milliseconds=500))
    chain_moves_on(w3)  # the window is over on the chain; the watcher has not looked yet

    assert not deposit_window_ended(transfer=transfer)
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT

    for transfer_id in chain_poll(chain_id=corridor.token.chain_id):
        transfer_deposit_progress(transfer_id=transfer_id)

    transfer.refresh_from_db()
    deposit = Deposit.objects.get(deposit_address=transfer.deposit_address)
    assert deposit.block_time == paid_at
    assert deposit.flag == Deposit.Flag.NONE
    assert deposit.credited_at is not None
    assert transfer.state == S.FUNDED
    assert deposit_window_ended(transfer=transfer)
    assert OutboundTransaction.objects.count() == 0


def test_a_transfer_expires_only_once_the_watcher_passes_the_windows_end(world):
    w3, _token, corridor = world
    transfer = make_transfer(corridor=corridor)
    mine(w3, 1)
    chain_poll(chain_id=corridor.token.chain_id)
    cursor_time = Chain.objects.get(pk=corridor.token.chain_id).cursor_block_time
    transfer = window_ends_at(transfer, cursor_time)  # ends at the scanned block: not past it
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT

    chain_moves_on(w3)
    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.AWAITING_DEPOSIT
    chain_poll(chain_id=corridor.token.chain_id)

    assert transfer_deposit_progress(transfer_id=transfer.pk).state == S.EXPIRED
    transfer.deposit_address.refresh_from_db()
    assert transfer.deposit_address.closed_after_block == Chain.objects.get(
        pk=corridor.token.chain_id).cursor_block


def test_a_payment_stamped_after_the_window_is_refunded_on_chain_not_credited(world):
    w3, token, corridor = world
    transfer = make_transfer(corridor=corridor)
    mine(w3, 1)
    chain_poll(chain_id=corridor.token.chain_id)
    transfer = window_ends_at(
        transfer, Chain.objects.get(pk=corridor.token.chain_id).cursor_block_time)
    chain_moves_on(w3, seconds=2)
    payer = w3.eth.accounts[PAYER_INDEX]
    before = token_balance(w3, token, payer)
    paid_at = pay(w3, token, transfer)
    assert paid_at > transfer.deposit_expires_at

    for _ in range(3):
        for transfer_id in chain_poll(chain_id=corridor.token.chain_id):
            transfer_deposit_progress(transfer_id=transfer_id)

    transfer.refresh_from_db()
    deposit = Deposit.objects.get(deposit_address=transfer.deposit_address)
    assert transfer.state == S.EXPIRED
    assert deposit.credited_at is None
    refund = OutboundTransaction.objects.get()
    assert (refund.reference, refund.to_address, refund.amount, refund.status) == (
        f"late-deposit:{deposit.pk}", payer, transfer.amount_in_base_units,
        OutboundTransaction.Status.CONFIRMED)
    assert token_balance(w3, token, payer) == before  # paid, then returned exactly once
    assert account_balance(code="liabilities:late_deposits", currency="USDC") == 0
    assert unbalanced_entries() == []
