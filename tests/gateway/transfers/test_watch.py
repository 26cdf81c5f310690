"""The chain poll on a real anvil: a reorg deeper than finality that takes the deposits of
several transfers with it leaves each of them in a named state with a way out, and none of them
can be paid on money that is no longer on the chain (issue 10: collateral of a deep reorg)."""

import pytest
from django.db import transaction

from gateway.common.problems import InvalidTransitionError
from gateway.ledger.selectors import unbalanced_entries
from gateway.transfers import tasks as transfer_tasks
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.actions import transfer_funding_lost, transfer_reorg_clear
from gateway.transfers.services.cancel import transfer_cancel
from gateway.transfers.services.conversion import transfer_release_hold
from gateway.transfers.services.deposits import transfer_deposit_progress
from gateway.transfers.services.refunds import late_deposits_refund_start
from gateway.transfers.states import ACTIONS, HOLD_ACTIONS
from gateway.transfers.states import TransferState as S
from gateway.transfers.watch import chain_poll
from gateway.webhooks import tasks as webhook_tasks
from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.devchain import mine, token_deploy, token_mint, token_transfer
from ramps.chain.errors import DepositNotConfirmedError
from ramps.chain.models import ChainIncident, Deposit, OutboundTransaction
from tests.gateway.transfers.factories import make_corridor, make_transfer
from tests.ramps.chain.factories import make_chain

pytestmark = pytest.mark.django_db
PAYER_INDEX = 5


@pytest.fixture
def world(anvil, monkeypatch):
    monkeypatch.setattr(transfer_tasks.transfer_advance, "delay", lambda pk: None)
    monkeypatch.setattr(transfer_tasks.transfer_advance, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(webhook_tasks.webhook_deliver, "delay", lambda pk: None)
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    token_mint(w3, token, w3.eth.accounts[PAYER_INDEX], 10**12)
    chain = make_chain(rpc_url=anvil.rpc_url, confirmations=1,
                       start_block=w3.eth.block_number + 1)
    return w3, token, make_corridor(chain=chain, token_address=token)


def pay_in_one_block(w3, token, payments: list[tuple[Transfer, int]]) -> int:
    """All ``payments`` mined in one block; returns its number."""
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = [token_transfer(w3, token, to=transfer.deposit_address.address,
                                 amount_base_units=amount, wait=False,
                                 sender=w3.eth.accounts[PAYER_INDEX])
                  for transfer, amount in payments]
        mine(w3, 1)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    blocks = {w3.eth.get_transaction_receipt(tx_hash)["blockNumber"] for tx_hash in hashes}
    assert len(blocks) == 1
    return blocks.pop()


def poll(chain_id: int) -> None:
    for transfer_id in chain_poll(chain_id=chain_id):
        transfer_deposit_progress(transfer_id=transfer_id)


def test_a_deep_reorg_of_a_block_with_two_transfers_deposits_leaves_neither_payable(world):
    w3, token, corridor = world
    chain_id = corridor.token.chain_id
    funded = make_transfer(corridor=corridor)
    underpaid = make_transfer(corridor=corridor)
    block = pay_in_one_block(w3, token, [(funded, funded.amount_in_base_units),
                                         (underpaid, underpaid.amount_in_base_units // 3)])
    poll(chain_id)
    funded.refresh_from_db()
    underpaid.refresh_from_db()
    # Both deposits final: one credited (funded), one waiting for the rest (uncredited).
    assert (funded.state, underpaid.state) == (S.FUNDED, S.DEPOSIT_SEEN)
    assert Deposit.objects.get(deposit_address=funded.deposit_address).credited_at is not None

    # A reorg deeper than the chain's one confirmation takes the block away.
    response = w3.provider.make_request("anvil_reorg", [w3.eth.block_number - block + 1, []])
    assert "error" not in response, response
    mine(w3, 1)
    poll(chain_id)

    funded.refresh_from_db()
    underpaid.refresh_from_db()
    funded_deposit = Deposit.objects.get(deposit_address=funded.deposit_address)
    underpaid_deposit = Deposit.objects.get(deposit_address=underpaid.deposit_address)
    assert (funded_deposit.status, underpaid_deposit.status) == (Deposit.Status.REORGED,
                                                                Deposit.Status.REORGED)
    assert funded_deposit.credited_at is not None  # the credit is what the hold is about
    assert underpaid_deposit.credited_at is None
    assert sorted(ChainIncident.objects.values_list("deposit_id", flat=True)) == sorted(
        [funded_deposit.pk, underpaid_deposit.pk])
    # The credited one is held for the reorg; the uncredited one is un-seen.
    assert (funded.state, funded.holds) == (S.ON_HOLD, [HoldKind.REORG])
    assert underpaid.state == S.AWAITING_DEPOSIT
    assert "gateway.transfers.services.actions.transfer_funding_lost" in HOLD_ACTIONS["reorg"]
    assert [action.actor for action in ACTIONS[S.AWAITING_DEPOSIT]] == ["sender"]

    # Neither can be paid: the hold cannot be released or cleared while the deposit is off
    # the chain, the other deposit can be neither credited nor refunded.
    with pytest.raises(InvalidTransitionError, match="reorg"):
        transfer_release_hold(transfer_id=funded.pk, operator="ops", note="release?")
    with pytest.raises(InvalidTransitionError, match="off the chain"):
        transfer_reorg_clear(transfer_id=funded.pk, operator="ops", note="back?")
    with pytest.raises(DepositNotConfirmedError), transaction.atomic():
        deposit_mark_credited(deposit=underpaid_deposit)
    assert late_deposits_refund_start(chain=corridor.token.chain) == []
    poll(chain_id)
    assert Transfer.objects.get(pk=underpaid.pk).state == S.AWAITING_DEPOSIT
    assert Transfer.objects.get(pk=funded.pk).state == S.ON_HOLD
    assert OutboundTransaction.objects.count() == 0

    # Their ways out: the funding is written off; the sender cancels (or pays again).
    assert transfer_funding_lost(transfer_id=funded.pk, operator="ops",
                                 note="treasury confirmed the loss").state == S.CANCELLED
    assert transfer_cancel(transfer_id=underpaid.pk, actor="sender").state == S.CANCELLED
    assert list(unbalanced_entries()) == []


def test_a_credited_deposit_mined_again_after_a_deep_reorg_lets_the_hold_clear(world):
    w3, token, corridor = world
    chain_id = corridor.token.chain_id
    transfer = make_transfer(corridor=corridor)
    tx_hash = token_transfer(w3, token, to=transfer.deposit_address.address,
                             amount_base_units=transfer.amount_in_base_units,
                             sender=w3.eth.accounts[PAYER_INDEX])
    raw = w3.eth.get_raw_transaction(tx_hash).to_0x_hex()
    mine(w3, 1)
    poll(chain_id)
    assert Transfer.objects.get(pk=transfer.pk).state == S.FUNDED

    # Both blocks leave the chain; the same transaction is mined again one block later (in
    # the same position the new block could be identical to the old one, hash and all).
    response = w3.provider.make_request("anvil_reorg", [2, [[raw, 1]]])
    assert "error" not in response, response
    poll(chain_id)  # the reorg: reorged, held
    assert Transfer.objects.get(pk=transfer.pk).holds == [HoldKind.REORG]
    mine(w3, 1)
    poll(chain_id)  # the log seen again in its new block, then final again

    deposit = Deposit.objects.get(deposit_address=transfer.deposit_address)
    assert deposit.status == Deposit.Status.CONFIRMED
    assert deposit.credited_at is not None
    cleared = transfer_reorg_clear(transfer_id=transfer.pk, operator="ops",
                                   note="mined again and final")
    assert cleared.holds == []
    # Held while funded (never screened): it goes back to screening, not to a conversion
    # that would refuse it for want of an approval.
    assert cleared.state == S.FUNDED
    assert list(unbalanced_entries()) == []


def test_the_periodic_poll_scans_every_active_chain(world):
    w3, token, corridor = world
    transfer = make_transfer(corridor=corridor)
    token_transfer(w3, token, to=transfer.deposit_address.address,
                   amount_base_units=transfer.amount_in_base_units,
                   sender=w3.eth.accounts[PAYER_INDEX])

    assert transfer_tasks.chains_poll() == 1  # the paid transfer is handed on
    assert Deposit.objects.get(deposit_address=transfer.deposit_address).status == (
        Deposit.Status.CONFIRMED)
