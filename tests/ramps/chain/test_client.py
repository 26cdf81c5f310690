"""The JSON-RPC client module."""


import pytest
from django.test import override_settings

from ramps.chain.client import (
    RPC_ERRORS,
    ChainClient,
    erc20_transfer_call,
    redact_rpc_url,
    web3_for_url,
)
from ramps.chain.devchain import free_port, mine, token_balance, token_transfer
from tests.source_imports import modules_importing


def test_provider_has_the_outbound_timeout_and_no_retries():
    with override_settings(OUTBOUND_HTTP_TIMEOUT_SECONDS=3.5):
        w3 = web3_for_url("http://127.0.0.1:8545")

    assert w3.provider.get_request_kwargs()["timeout"] == 3.5
    assert w3.provider.exception_retry_configuration is None


def test_secret_parts_of_the_rpc_url_are_redacted():
    url = "https://user:s3cret@polygon.example.com/v3/abcdef0123?key=zzz"
    message = f"HTTPError: 401 for url: {url} (path /v3/abcdef0123?key=zzz)"

    redacted = redact_rpc_url(message, url)

    assert "abcdef0123" not in redacted
    assert "s3cret" not in redacted
    assert "zzz" not in redacted
    assert redacted.startswith("HTTPError: 401 for url: <rpc>")


def test_plain_local_url_is_redacted_whole():
    assert redact_rpc_url("boom at http://127.0.0.1:1", "http://127.0.0.1:1") == "boom at <rpc>"


# --- ChainClient against a real anvil -------------------------------------------------------------


def test_the_client_reads_blocks_as_the_node_has_them(anvil):
    client = ChainClient(anvil.rpc_url)
    mine(anvil.w3, 3)
    head = client.head()
    numbers = {head - 2, head - 1, head, head + 50}

    blocks = client.blocks(numbers)

    assert client.chain_id() == anvil.chain_id
    for number in (head - 2, head - 1, head):
        node = anvil.w3.eth.get_block(number)
        assert blocks[number] == (node["hash"].to_0x_hex(), node["timestamp"])
        assert client.block(number) == blocks[number]
    assert blocks[head + 50] is None
    assert client.block(head + 50) is None
    assert client.block_number_at("latest") == head


def test_the_client_reads_tokens_and_accounts(anvil, stable_token):
    client = ChainClient(anvil.rpc_url)
    holder = anvil.w3.eth.accounts[1]

    assert client.erc20_decimals(stable_token) == 6
    assert client.erc20_symbol(stable_token) == "USDC"
    assert client.erc20_balance(stable_token, holder) == token_balance(anvil.w3, stable_token,
                                                                       holder)
    assert client.code(stable_token) != b""
    assert client.code(holder) == b""
    assert client.native_balance(holder) == anvil.w3.eth.get_balance(holder)


def test_the_client_follows_a_sent_transaction(anvil, stable_token):
    client = ChainClient(anvil.rpc_url)
    sender, receiver = anvil.w3.eth.accounts[1], anvil.w3.eth.accounts[6]
    call = erc20_transfer_call(token_address=stable_token, from_address=sender,
                               to_address=receiver, amount=1_500_000)
    assert client.estimate_gas(call) > 21_000
    unknown = "0x" + "12" * 32
    assert client.receipt(unknown) is None
    assert client.transaction_known(unknown) is False

    nonce = client.nonce(sender, pending=False)
    tx_hash = token_transfer(anvil.w3, stable_token, to=receiver, amount_base_units=1_500_000,
                             sender=sender)

    receipt = client.receipt(tx_hash)
    assert (receipt.tx_hash, receipt.succeeded) == (tx_hash, True)
    assert receipt.block_number == client.head()
    assert client.transaction_known(tx_hash) is True
    assert client.nonce(sender, pending=False) == client.nonce(sender, pending=True) == nonce + 1
    max_fee, priority = client.fees()
    assert max_fee >= priority >= 0
    logs = client.transfer_logs(start=receipt.block_number, end=receipt.block_number,
                                contracts=[stable_token])
    assert [log["transactionHash"] for log in logs] == [tx_hash]


def test_a_dead_node_raises_one_of_the_rpc_errors_without_its_secret():
    client = ChainClient(f"http://127.0.0.1:{free_port()}/v3/secret-key", timeout=2)

    with pytest.raises(RPC_ERRORS) as failed:
        client.head()
    assert "secret-key" not in client.error_text(failed.value)


def test_web3_is_imported_only_by_the_client_the_signer_and_the_dev_chain():
    # The dev chain (anvil for the demo and the tests) deploys and pays like a wallet would,
    # and the demo's sender is such a wallet: both stand outside the gateway.
    assert modules_importing("web3") == [
        "gateway/demo/remittance.py", "ramps/chain/client.py", "ramps/chain/devchain.py",
        "ramps/chain/signer.py"]
