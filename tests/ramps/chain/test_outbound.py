"""Sweeps and refunds on a real anvil: signer, nonces, gas top-ups, receipts, replacement."""

import threading

import pytest
from django.db import connection
from eth_account import Account

from gateway.common.crypto import encrypt_text
from gateway.common.problems import ConflictError
from ramps.chain.addresses import deposit_address_allocate
from ramps.chain.devchain import (
    ANVIL_MNEMONIC,
    AnvilProcess,
    dev_private_key,
    token_balance,
    token_deploy,
    token_mint,
    token_transfer,
)
from ramps.chain.errors import OutboundRefusedError
from ramps.chain.models import AddressNonce, Chain, Deposit, OutboundTransaction, Token
from ramps.chain.outbound import (
    outbound_transactions_refresh,
    refund_create,
    refund_execute,
    sweep_create,
    sweep_execute,
)
from ramps.chain.signer import KeystoreSigner
from ramps.chain.watcher import chain_scan

HOT_WALLET_INDEX = 2
TREASURY = "0x000000000000000000000000000000000000dEaD"
PAYER_REFUND_TO = Account.from_key(dev_private_key(3)).address


@pytest.fixture(scope="module")
def signer():
    keystore = Account.encrypt(dev_private_key(HOT_WALLET_INDEX), "pw", kdf="pbkdf2",
                               iterations=2)
    return KeystoreSigner(keystore=keystore, password="pw",
                          mnemonic_encrypted=encrypt_text(ANVIL_MNEMONIC), account=1)


def _funded_deposit(anvil, chain_factory, signer, *, artifact="StableToken", amount=5_000_000):
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="T", symbol="USDT", decimals=6,
                         artifact=artifact)
    token_mint(w3, token, w3.eth.accounts[1], 10**12, artifact=artifact)
    token_mint(w3, token, signer.hot_wallet_address(), 10**12, artifact=artifact)
    chain = chain_factory(tokens=(token,), confirmations=1)
    Chain.objects.filter(pk=chain.pk).update(treasury_address=TREASURY)
    chain.refresh_from_db()
    address = deposit_address_allocate(chain=chain)
    token_transfer(w3, token, to=address.address, amount_base_units=amount,
                   sender=w3.eth.accounts[1], artifact=artifact)
    chain_scan(chain=chain)
    return chain, token, address, Deposit.objects.get(chain=chain)


@pytest.mark.django_db
def test_signer_never_shows_keys_and_derives_the_watchers_addresses(anvil, chain_factory,
                                                                    signer):
    chain = chain_factory()
    address = deposit_address_allocate(chain=chain)
    assert signer.deposit_address(derivation_index=0) == address.address
    assert dev_private_key(HOT_WALLET_INDEX)[2:] not in repr(signer)
    assert repr(signer) == f"<KeystoreSigner hot wallet {signer.hot_wallet_address()}>"


@pytest.mark.django_db
def test_refund_of_a_usdt_style_token_is_sent_once(anvil, chain_factory, signer):
    chain, token, _, deposit = _funded_deposit(anvil, chain_factory, signer,
                                               artifact="NoBoolToken")
    refund = refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO.lower(),
                           amount_base_units=1_250_000, reference="refund-1", signer=signer)
    assert refund.status == OutboundTransaction.Status.CREATED
    assert refund.from_address == signer.hot_wallet_address()

    sent = refund_execute(outbound=refund, signer=signer)
    again = refund_execute(outbound=refund, signer=signer)
    same = refund_create(deposit_or_reference=f"{chain.caip2}:{deposit.tx_hash}:0",
                         to_address=PAYER_REFUND_TO, amount_base_units=1_250_000,
                         reference="refund-1", signer=signer)

    assert sent.status == again.status == OutboundTransaction.Status.BROADCAST
    assert again.tx_hash == sent.tx_hash
    assert len(again.attempts) == 1
    assert same.pk == refund.pk
    refreshed = outbound_transactions_refresh(chain=chain, signer=signer)
    assert [o.pk for o in refreshed.confirmed] == [refund.pk]
    refund.refresh_from_db()
    assert refund.status == OutboundTransaction.Status.CONFIRMED
    assert token_balance(anvil.w3, token, PAYER_REFUND_TO, artifact="NoBoolToken") == 1_250_000
    nonce = anvil.w3.eth.get_transaction_count(signer.hot_wallet_address())
    assert AddressNonce.objects.get(chain=chain).next_nonce == nonce


@pytest.mark.django_db
def test_refunds_cannot_exceed_the_deposit_or_reuse_a_reference(anvil, chain_factory, signer):
    _, _, _, deposit = _funded_deposit(anvil, chain_factory, signer, amount=3_000_000)
    refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                  amount_base_units=2_000_000, reference="r-a", signer=signer)

    with pytest.raises(OutboundRefusedError, match="exceeds deposit"):
        refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                      amount_base_units=1_000_001, reference="r-b", signer=signer)
    with pytest.raises(ConflictError, match="already used"):
        refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                      amount_base_units=1_000, reference="r-a", signer=signer)
    for bad in ("0x123", "0x0000000000000000000000000000000000000000",
                PAYER_REFUND_TO[:-1] + ("a" if PAYER_REFUND_TO[-1] == "A" else "A")):
        with pytest.raises(OutboundRefusedError):
            refund_create(deposit_or_reference=deposit, to_address=bad,
                          amount_base_units=1, reference="r-c", signer=signer)
    with pytest.raises(OutboundRefusedError):
        refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                      amount_base_units=0, reference="r-d", signer=signer)
    assert OutboundTransaction.objects.count() == 1


@pytest.mark.django_db
def test_sweep_tops_up_gas_then_sweeps_to_the_treasury(anvil, chain_factory, signer):
    chain, token, address, _ = _funded_deposit(anvil, chain_factory, signer)
    assert anvil.w3.eth.get_balance(address.address) == 0
    sweep = sweep_create(deposit_address=address, token=token_row(chain), reference="sweep-1")
    assert sweep.amount == 5_000_000

    waiting = sweep_execute(outbound=sweep, signer=signer)

    assert waiting.status == OutboundTransaction.Status.WAITING_GAS
    topup = OutboundTransaction.objects.get(kind=OutboundTransaction.Kind.GAS_TOPUP)
    assert (topup.reference, topup.to_address, topup.status) == (
        "sweep-1:gas", address.address, OutboundTransaction.Status.BROADCAST)
    outbound_transactions_refresh(chain=chain, signer=signer)  # top-up confirmed, sweep sent
    outbound_transactions_refresh(chain=chain, signer=signer)  # sweep confirmed
    sweep.refresh_from_db()
    assert sweep.status == OutboundTransaction.Status.CONFIRMED
    assert token_balance(anvil.w3, token, TREASURY) == 5_000_000
    assert token_balance(anvil.w3, token, address.address) == 0
    assert sweep_create(deposit_address=address, token=token_row(chain),
                        reference="sweep-1").pk == sweep.pk


def token_row(chain):
    return Token.objects.get(chain=chain)


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_get_distinct_nonces(anvil, chain_factory, signer):
    chain, _, _, deposit = _funded_deposit(anvil, chain_factory, signer, amount=10_000_000)
    refunds = [refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                             amount_base_units=100_000, reference=f"c-{i}", signer=signer)
               for i in range(8)]
    start = threading.Barrier(len(refunds))
    errors = []

    def send(refund):
        try:
            start.wait()
            refund_execute(outbound=refund, signer=signer)
            refund_execute(outbound=refund, signer=signer)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(r,)) for r in refunds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    nonces = sorted(OutboundTransaction.objects.values_list("nonce", flat=True))
    assert len(set(nonces)) == 8
    assert nonces == list(range(nonces[0], nonces[0] + 8))
    outbound_transactions_refresh(chain=chain, signer=signer)
    assert set(OutboundTransaction.objects.values_list("status", flat=True)) == {"confirmed"}
    assert token_balance(anvil.w3, Token.objects.get(chain=chain).contract_address,
                         PAYER_REFUND_TO) >= 800_000


@pytest.mark.django_db
def test_stuck_refund_is_replaced_with_the_same_nonce(chain_factory, signer, deposit_xpub):
    node = AnvilProcess(chain_id=31339).start()
    try:
        w3 = node.w3
        token = token_deploy(w3, deployer=w3.eth.accounts[0], name="T", symbol="USDC",
                             decimals=6)
        token_mint(w3, token, signer.hot_wallet_address(), 10**12)
        chain = Chain.objects.create(caip2=node.caip2, name="stuck", chain_id=node.chain_id,
                                     rpc_url=node.rpc_url, confirmations=1, xpub=deposit_xpub,
                                     stuck_after_seconds=0, start_block=1)
        Token.objects.create(chain=chain, symbol="USDC", contract_address=token, decimals=6)
        address = deposit_address_allocate(chain=chain)
        token_mint(w3, token, address.address, 1_000_000)
        chain_scan(chain=chain)
        deposit = Deposit.objects.get(chain=chain)
        w3.provider.make_request("evm_setAutomine", [False])
        refund = refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                               amount_base_units=400_000, reference="stuck-1", signer=signer)
        sent = refund_execute(outbound=refund, signer=signer)
        first_hash, first_fee = sent.tx_hash, sent.max_fee_per_gas

        result = outbound_transactions_refresh(chain=chain, signer=signer)

        refund.refresh_from_db()
        assert [o.pk for o in result.replaced] == [refund.pk]
        assert refund.tx_hash != first_hash
        assert len(refund.attempts) == 2
        assert refund.max_fee_per_gas >= first_fee * 5 // 4
        assert refund.nonce == sent.nonce
        w3.provider.make_request("evm_mine", [])
        Chain.objects.filter(pk=chain.pk).update(stuck_after_seconds=3600)
        chain.refresh_from_db()
        outbound_transactions_refresh(chain=chain, signer=signer)
        refund.refresh_from_db()
        assert refund.status == OutboundTransaction.Status.CONFIRMED
        assert refund.tx_hash == refund.attempts[-1]["tx_hash"]
        assert token_balance(w3, token, PAYER_REFUND_TO) == 400_000  # only one was mined
    finally:
        node.stop()


@pytest.mark.django_db
def test_a_refund_mined_between_the_receipt_and_the_nonce_read_is_not_marked_failed(
        anvil, chain_factory, signer, monkeypatch):
    """A block that comes in between the two reads makes our own nonce look taken: the refund
    must stay open and be confirmed next time, never be marked failed (an operator re-sending a
    'failed' refund that is on chain would refund twice)."""
    import ramps.chain.outbound as outbound_module

    chain, token, _, deposit = _funded_deposit(anvil, chain_factory, signer)
    refund = refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                           amount_base_units=1_000_000, reference="refund-race", signer=signer)
    refund_execute(outbound=refund, signer=signer)
    real_receipt, calls = outbound_module._receipt, []

    def receipt_not_yet_then_mined(client, outbound):
        calls.append(outbound.pk)
        return None if len(calls) == 1 else real_receipt(client, outbound)

    monkeypatch.setattr(outbound_module, "_receipt", receipt_not_yet_then_mined)
    first = outbound_transactions_refresh(chain=chain, signer=signer)
    assert first.failed == []
    refund.refresh_from_db()
    assert refund.status == OutboundTransaction.Status.BROADCAST
    second = outbound_transactions_refresh(chain=chain, signer=signer)
    assert [o.pk for o in second.confirmed] == [refund.pk]
    assert token_balance(anvil.w3, token, PAYER_REFUND_TO) >= 1_000_000


@pytest.mark.django_db
def test_a_refund_of_a_deposit_that_left_the_chain_is_not_signed(anvil, chain_factory, signer):
    """The hot wallet pays refunds: one for a deposit a reorg took away would pay out money
    that never arrived. It waits, unsigned, until the deposit is final again."""
    chain, token, _, deposit = _funded_deposit(anvil, chain_factory, signer)
    refund = refund_create(deposit_or_reference=deposit, to_address=PAYER_REFUND_TO,
                           amount_base_units=1_000_000, reference="refund-gone", signer=signer)
    response = anvil.w3.provider.make_request("anvil_reorg", [1, []])
    assert "error" not in response, response
    chain_scan(chain=chain)
    assert Deposit.objects.get(pk=deposit.pk).status == Deposit.Status.REORGED
    before = token_balance(anvil.w3, token, PAYER_REFUND_TO)

    held = refund_execute(outbound=refund, signer=signer)
    outbound_transactions_refresh(chain=chain, signer=signer)

    held.refresh_from_db()
    assert held.status == OutboundTransaction.Status.CREATED
    assert (held.tx_hash, held.attempts) == ("", [])
    assert "left the chain" in held.last_error
    assert token_balance(anvil.w3, token, PAYER_REFUND_TO) == before
