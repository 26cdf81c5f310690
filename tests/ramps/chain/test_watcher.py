"""chain_scan against a real anvil node: recording, confirmations, reorgs, RPC failures.

Anvil runs in automine mode, so every transaction is mined in its own block and block numbers
are exact; ``anvil_reorg`` replaces the newest blocks, optionally with transactions mined again.
"""

import pytest
from django.db import transaction
from eth_account import Account

from ramps.chain.addresses import deposit_address_allocate
from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.devchain import (
    AnvilProcess,
    contract_artifact,
    dev_private_key,
    free_port,
    mine,
    token_contract,
    token_deploy,
    token_mint,
    token_transfer,
)
from ramps.chain.models import Chain, ChainBlock, ChainIncident, Deposit
from ramps.chain.watcher import chain_scan

pytestmark = pytest.mark.django_db

SENDER_INDEX = 1  # dev account funded by the stable_token fixture


def _sender(anvil: AnvilProcess) -> str:
    return anvil.w3.eth.accounts[SENDER_INDEX]


def _pay(anvil: AnvilProcess, token: str, to: str, amount: int) -> tuple[str, int]:
    """Transfer from the funded dev account; returns (tx hash, block number)."""
    tx_hash = token_transfer(anvil.w3, token, to=to, amount_base_units=amount,
                             sender=_sender(anvil))
    receipt = anvil.w3.eth.get_transaction_receipt(tx_hash)
    return tx_hash, receipt["blockNumber"]


def _signed_transfer(anvil: AnvilProcess, token: str, to: str, amount: int) -> str:
    """A signed token transfer (raw 0x hex) from the funded dev account, not sent."""
    w3 = anvil.w3
    sender = _sender(anvil)
    tx = token_contract(w3, token).functions.transfer(to, amount).build_transaction(
        {"from": sender, "nonce": w3.eth.get_transaction_count(sender),
         "chainId": anvil.chain_id}
    )
    signed = Account.from_key(dev_private_key(SENDER_INDEX)).sign_transaction(tx)
    return signed.raw_transaction.to_0x_hex()


def _reorg(anvil: AnvilProcess, depth: int, included: list[tuple[str, int]] = ()) -> None:
    """Replace the newest ``depth`` blocks; ``included`` = (raw tx, index of new block)."""
    response = anvil.w3.provider.make_request(
        "anvil_reorg", [depth, [[raw, index] for raw, index in included]]
    )
    assert "error" not in response, response


def _block_hash(anvil: AnvilProcess, number: int) -> str:
    return anvil.w3.eth.get_block(number)["hash"].to_0x_hex()


def test_scan_records_a_deposit_once_even_when_scanned_twice(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=3)
    address = deposit_address_allocate(chain=chain)
    tx_hash, block = _pay(anvil, stable_token, address.address, 12_500_000)

    first = chain_scan(chain=chain)

    assert first.error == ""
    assert first.head == block
    assert first.cursor == block
    assert [deposit.tx_hash for deposit in first.new_deposits] == [tx_hash]
    deposit = Deposit.objects.get()
    assert deposit.amount == 12_500_000
    assert deposit.status == Deposit.Status.SEEN
    assert deposit.block_number == block
    assert deposit.log_index == 0
    assert deposit.from_address == _sender(anvil)
    assert deposit.deposit_address == address
    assert deposit.token.contract_address == stable_token
    assert deposit.block_hash == _block_hash(anvil, block)
    assert deposit.confirmed_at is None
    assert deposit.credited_at is None

    # A crash after the commit means the range is scanned again from an old cursor.
    Chain.objects.filter(pk=chain.pk).update(cursor_block=block - 1)
    chain.refresh_from_db()
    second = chain_scan(chain=chain)

    assert second.error == ""
    assert second.new_deposits == []
    assert second.cursor == block
    assert Deposit.objects.count() == 1
    assert Deposit.objects.get().status == Deposit.Status.SEEN


def test_deposit_is_confirmed_only_at_the_configured_depth(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=3)
    address = deposit_address_allocate(chain=chain)
    _, block = _pay(anvil, stable_token, address.address, 5_000_000)

    assert chain_scan(chain=chain).confirmed_deposits == []  # 1 confirmation
    mine(anvil.w3, 1)
    result = chain_scan(chain=chain)  # 2 confirmations
    assert result.confirmed_deposits == []
    assert Deposit.objects.get().status == Deposit.Status.SEEN

    mine(anvil.w3, 1)
    result = chain_scan(chain=chain)  # 3 confirmations: head - block + 1 == 3

    assert result.head == block + 2
    assert [deposit.pk for deposit in result.confirmed_deposits] == [Deposit.objects.get().pk]
    deposit = Deposit.objects.get()
    assert deposit.status == Deposit.Status.CONFIRMED
    assert deposit.confirmed_at is not None

    mine(anvil.w3, 2)
    again = chain_scan(chain=chain)
    assert again.confirmed_deposits == []
    assert again.new_deposits == []
    assert Deposit.objects.get().confirmed_at == deposit.confirmed_at


def test_transfers_to_other_addresses_are_ignored(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    deposit_address_allocate(chain=chain)
    stranger = Account.create().address
    _, block = _pay(anvil, stable_token, stranger, 1_000_000)

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.new_deposits == []
    assert result.cursor == block
    assert Deposit.objects.count() == 0


def test_unknown_tokens_and_zero_transfers_are_ignored(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    w3 = anvil.w3
    other = token_deploy(w3, deployer=w3.eth.accounts[0], name="Other", symbol="OTH", decimals=6)
    token_mint(w3, other, _sender(anvil), 10_000)
    token_transfer(w3, other, to=address.address, amount_base_units=10_000, sender=_sender(anvil))
    token_transfer(w3, stable_token, to=address.address, amount_base_units=0,
                   sender=_sender(anvil))

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.new_deposits == []
    assert Deposit.objects.count() == 0


def test_scan_walks_in_ranges_of_max_log_range(anvil, stable_token, chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1, max_log_range=2)
    first, second = deposit_address_allocate(chain=chain), deposit_address_allocate(chain=chain)
    payments = [_pay(anvil, stable_token, first.address, 1_000_000),
                _pay(anvil, stable_token, second.address, 2_000_000),
                _pay(anvil, stable_token, first.address, 3_000_000)]
    mine(anvil.w3, 2)

    result = chain_scan(chain=chain)

    assert result.error == ""
    assert result.cursor == result.head == payments[-1][1] + 2
    recorded = [(deposit.tx_hash, deposit.deposit_address.address, deposit.amount)
                for deposit in Deposit.objects.order_by("block_number")]
    assert recorded == [(payments[0][0], first.address, 1_000_000),
                        (payments[1][0], second.address, 2_000_000),
                        (payments[2][0], first.address, 3_000_000)]
    assert {deposit.pk for deposit in result.confirmed_deposits} == set(
        Deposit.objects.values_list("pk", flat=True)
    )
    # The block hash of each range end and of each deposit block is kept for reorg checks.
    stored = set(ChainBlock.objects.filter(chain=chain).values_list("number", flat=True))
    assert {block for _, block in payments} <= stored
    assert result.head in stored


def test_two_tokens_are_scanned_together(anvil, stable_token, chain_factory):
    w3 = anvil.w3
    second_token = token_deploy(w3, deployer=w3.eth.accounts[0], name="Tether (local)",
                                symbol="USDT", decimals=6)
    token_mint(w3, second_token, _sender(anvil), 50_000_000)
    chain = chain_factory(tokens=(stable_token, second_token), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 7_000_000)
    _pay(anvil, second_token, address.address, 9_000_000)

    chain_scan(chain=chain)

    assert [(deposit.token.symbol, deposit.amount) for deposit in
            Deposit.objects.order_by("block_number")] == [("USDC", 7_000_000),
                                                          ("USDT", 9_000_000)]


def test_deposit_reorged_out_before_confirmation_is_never_confirmed(anvil, stable_token,
                                                                    chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=3)
    address = deposit_address_allocate(chain=chain)
    _, block = _pay(anvil, stable_token, address.address, 4_000_000)
    mine(anvil.w3, 1)
    assert len(chain_scan(chain=chain).new_deposits) == 1

    _reorg(anvil, 2)  # blocks `block` and `block + 1` replaced by empty ones
    result = chain_scan(chain=chain)

    deposit = Deposit.objects.get()
    assert [reorged.pk for reorged in result.reorged_deposits] == [deposit.pk]
    assert result.new_deposits == []
    assert deposit.status == Deposit.Status.REORGED
    assert result.cursor == result.head == block + 1

    mine(anvil.w3, 5)
    later = chain_scan(chain=chain)
    assert later.confirmed_deposits == []
    assert later.new_deposits == []
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.REORGED
    assert deposit.confirmed_at is None
    assert Deposit.objects.count() == 1


def test_deposit_mined_again_after_a_reorg_is_confirmed_once(anvil, stable_token,
                                                              chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=3)
    address = deposit_address_allocate(chain=chain)
    raw = _signed_transfer(anvil, stable_token, address.address, 6_000_000)
    tx_hash = anvil.w3.eth.send_raw_transaction(raw).to_0x_hex()
    block = anvil.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]
    mine(anvil.w3, 1)
    chain_scan(chain=chain)
    old_hash = Deposit.objects.get().block_hash

    # The same transaction lands one block later on the new branch.
    _reorg(anvil, 2, [(raw, 1)])
    assert anvil.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"] == block + 1
    result = chain_scan(chain=chain)

    deposit = Deposit.objects.get()
    assert [reorged.pk for reorged in result.reorged_deposits] == [deposit.pk]
    assert [seen.pk for seen in result.new_deposits] == [deposit.pk]
    assert deposit.status == Deposit.Status.SEEN
    assert deposit.block_number == block + 1
    assert deposit.block_hash == _block_hash(anvil, block + 1) != old_hash

    mine(anvil.w3, 1)
    assert chain_scan(chain=chain).confirmed_deposits == []  # 2 of 3 confirmations
    mine(anvil.w3, 1)
    confirming = chain_scan(chain=chain)
    mine(anvil.w3, 3)
    after = chain_scan(chain=chain)

    assert [confirmed.pk for confirmed in confirming.confirmed_deposits] == [deposit.pk]
    assert after.confirmed_deposits == []
    deposit.refresh_from_db()
    assert deposit.status == Deposit.Status.CONFIRMED
    assert Deposit.objects.count() == 1


def _blocker(anvil: AnvilProcess, token: str, to: str) -> tuple[str, str]:
    """A signed transfer of 1,000 base units to ``to`` from dev account 2 (raw hex, hash):
    mined before a deposit in the same block, it moves the deposit's log to a later index."""
    w3 = anvil.w3
    sender = w3.eth.accounts[2]
    token_mint(w3, token, sender, 1_000)
    tx = token_contract(w3, token).functions.transfer(to, 1_000).build_transaction(
        {"from": sender, "nonce": w3.eth.get_transaction_count(sender),
         "chainId": anvil.chain_id})
    signed = Account.from_key(dev_private_key(2)).sign_transaction(tx)
    return signed.raw_transaction.to_0x_hex(), signed.hash.to_0x_hex()


def _burst_deploy(anvil: AnvilProcess):
    """The TransferBurst helper contract: one transaction emitting a Transfer per recipient
    (``amount + i``), watched here as a token."""
    w3 = anvil.w3
    artifact = contract_artifact("TransferBurst")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": w3.eth.accounts[0]}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def test_deposit_mined_again_at_another_log_index_keeps_its_row(anvil, stable_token,
                                                                 chain_factory):
    """A log's index is its place in the block: mined again behind another transaction, the
    same payment is the same deposit (one row, credit and refunds resting on it), never a
    second deposit of the same transaction."""
    w3 = anvil.w3
    chain = chain_factory(tokens=(stable_token,), confirmations=2)
    address = deposit_address_allocate(chain=chain)
    other = deposit_address_allocate(chain=chain)
    blocker_raw, blocker_hash = _blocker(anvil, stable_token, other.address)
    raw = _signed_transfer(anvil, stable_token, address.address, 1_500_000)
    tx_hash = w3.eth.send_raw_transaction(raw).to_0x_hex()
    mine(w3, 1)
    chain_scan(chain=chain)
    first = Deposit.objects.get()
    assert (first.log_index, first.status) == (0, Deposit.Status.CONFIRMED)
    with transaction.atomic():
        deposit_mark_credited(deposit=first)
    _reorg(anvil, 2, [(blocker_raw, 0), (raw, 0)])
    assert w3.eth.get_transaction_receipt(tx_hash)["logs"][0]["logIndex"] == 1
    mine(w3, 1)

    result = chain_scan(chain=chain)

    assert result.error == ""
    rows = [(row.pk, row.tx_hash, row.log_index, row.deposit_address, row.status)
            for row in Deposit.objects.order_by("pk")]
    assert rows[0] == (first.pk, tx_hash, 1, address, Deposit.Status.CONFIRMED)
    assert [row[1:] for row in rows[1:]] == [
        (blocker_hash, 0, other, Deposit.Status.CONFIRMED)]
    moved = Deposit.objects.get(pk=first.pk)
    assert moved.credited_at is not None  # the credit stays on the one deposit
    assert moved.block_hash == w3.eth.get_transaction_receipt(tx_hash)["blockHash"].to_0x_hex()
    assert first.pk in [deposit.pk for deposit in result.deep_reorged_deposits]
    assert chain_scan(chain=chain).new_deposits == []  # a rescan changes nothing


def test_a_transaction_with_two_deposit_logs_keeps_both_rows_when_its_logs_move(
        anvil, stable_token, chain_factory):
    """A contract paying two deposit addresses in one transaction (a batch payout): mined
    again behind another transaction, both logs move up one index; each keeps its row."""
    w3 = anvil.w3
    burst = _burst_deploy(anvil)
    chain = chain_factory(tokens=(stable_token, burst.address), confirmations=1)
    first_address = deposit_address_allocate(chain=chain)
    second_address = deposit_address_allocate(chain=chain)
    other = deposit_address_allocate(chain=chain)
    blocker_raw, _ = _blocker(anvil, stable_token, other.address)
    sender = _sender(anvil)
    tx = burst.functions.burst([first_address.address, second_address.address],
                               2_000_000).build_transaction(
        {"from": sender, "nonce": w3.eth.get_transaction_count(sender),
         "chainId": anvil.chain_id})
    raw = Account.from_key(dev_private_key(SENDER_INDEX)).sign_transaction(
        tx).raw_transaction.to_0x_hex()
    tx_hash = w3.eth.send_raw_transaction(raw).to_0x_hex()
    chain_scan(chain=chain)
    before = {row.deposit_address_id: (row.pk, row.log_index)
              for row in Deposit.objects.filter(tx_hash=tx_hash)}
    assert sorted(index for _, index in before.values()) == [0, 1]
    _reorg(anvil, 1, [(blocker_raw, 0), (raw, 0)])

    chain_scan(chain=chain)

    after = {row.deposit_address_id: (row.pk, row.log_index, row.status, row.amount)
             for row in Deposit.objects.filter(tx_hash=tx_hash)}
    assert after == {
        first_address.pk: (before[first_address.pk][0], before[first_address.pk][1] + 1,
                           Deposit.Status.CONFIRMED, 2_000_000),
        second_address.pk: (before[second_address.pk][0], before[second_address.pk][1] + 1,
                            Deposit.Status.CONFIRMED, 2_000_001),
    }


def test_confirmed_deposit_reorged_deeper_than_finality_is_reported(anvil, stable_token,
                                                                    chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 2_000_000)
    assert len(chain_scan(chain=chain).confirmed_deposits) == 1

    _reorg(anvil, 1)
    result = chain_scan(chain=chain)

    deposit = Deposit.objects.get()
    assert [deep.pk for deep in result.deep_reorged_deposits] == [deposit.pk]
    assert deposit.status == Deposit.Status.REORGED  # never credited or refunded off the chain
    chain.refresh_from_db()
    assert chain.last_error == f"Deep reorg: confirmed deposit(s) {deposit.pk} left the chain"


def test_a_credited_deposit_that_leaves_the_chain_is_reorged_then_confirmed_again(
        anvil, stable_token, chain_factory):
    """Off the chain it can be neither credited again nor refunded (it is not confirmed); the
    credit it had stays on record; mined again, it is seen in its new block and final again."""
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    raw = _signed_transfer(anvil, stable_token, address.address, 3_000_000)
    anvil.w3.eth.send_raw_transaction(raw)
    chain_scan(chain=chain)
    with transaction.atomic():
        deposit_mark_credited(deposit=Deposit.objects.get())

    _reorg(anvil, 1)
    left = chain_scan(chain=chain)
    deposit = Deposit.objects.get()
    assert [d.pk for d in left.deep_reorged_deposits] == [deposit.pk]
    assert [d.pk for d in left.reorged_deposits] == [deposit.pk]
    assert (deposit.status, deposit.credited_at is not None) == (Deposit.Status.REORGED, True)
    assert ChainIncident.objects.get().deposit_id == deposit.pk

    _reorg(anvil, 1, [(raw, 0)])
    back = chain_scan(chain=chain)
    deposit.refresh_from_db()
    assert [d.pk for d in back.new_deposits] == [deposit.pk]
    assert [d.pk for d in back.confirmed_deposits] == [deposit.pk]
    assert (deposit.status, deposit.credited_at is not None) == (Deposit.Status.CONFIRMED, True)
    assert deposit.block_hash == _block_hash(anvil, deposit.block_number)
    assert ChainIncident.objects.count() == 1  # still open for an operator to close


def test_node_behind_the_cursor_waits_then_the_reorg_is_found(anvil, stable_token,
                                                                chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=2)
    address = deposit_address_allocate(chain=chain)
    _, block = _pay(anvil, stable_token, address.address, 3_000_000)
    chain_scan(chain=chain)
    response = anvil.w3.provider.make_request("anvil_rollback", [1])
    assert "error" not in response, response

    behind = chain_scan(chain=chain)

    assert behind.error == (
        f"Node head {block - 1} is behind the scan cursor {block}; waiting for it."
    )
    assert behind.reorged_deposits == []
    assert Deposit.objects.get().status == Deposit.Status.SEEN
    chain.refresh_from_db()
    assert chain.cursor_block == block
    assert chain.last_error == behind.error

    mine(anvil.w3, 2)
    caught_up = chain_scan(chain=chain)

    assert caught_up.error == ""
    assert [deposit.pk for deposit in caught_up.reorged_deposits] == [Deposit.objects.get().pk]
    assert caught_up.deep_reorged_deposits == []
    assert Deposit.objects.get().status == Deposit.Status.REORGED
    assert caught_up.cursor == block + 1


def test_scan_inside_a_transaction_that_holds_the_chain_lock(anvil, stable_token,
                                                             chain_factory):
    chain = chain_factory(tokens=(stable_token,), confirmations=1)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 8_000_000)

    with transaction.atomic():
        locked = Chain.objects.select_for_update().get(pk=chain.pk)
        result = chain_scan(chain=locked)

    assert result.error == ""
    assert len(result.new_deposits) == len(result.confirmed_deposits) == 1
    assert Deposit.objects.get().status == Deposit.Status.CONFIRMED


def test_rpc_failure_is_recorded_without_raising(anvil, stable_token, chain_factory):
    dead_url = f"http://127.0.0.1:{free_port()}"
    chain = chain_factory(tokens=(stable_token,), rpc_url=dead_url)
    address = deposit_address_allocate(chain=chain)
    _pay(anvil, stable_token, address.address, 1_000_000)

    result = chain_scan(chain=chain)

    assert result.error.startswith("ConnectionError: ")
    assert result.head is None
    assert result.cursor is None
    assert not result.ok
    chain.refresh_from_db()
    assert chain.last_error == result.error
    assert chain.last_polled_at is not None
    assert chain.cursor_block is None
    assert chain.head_block is None
    assert Deposit.objects.count() == 0
    assert ChainBlock.objects.count() == 0

    Chain.objects.filter(pk=chain.pk).update(rpc_url=anvil.rpc_url)
    chain.refresh_from_db()
    recovered = chain_scan(chain=chain)
    assert recovered.ok
    assert len(recovered.new_deposits) == 1
    chain.refresh_from_db()
    assert chain.last_error == ""
