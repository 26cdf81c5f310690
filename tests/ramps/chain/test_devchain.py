"""The local chain tooling: anvil process management and the project's token contracts."""

import os
import socket
import time

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from ramps.chain import devchain
from ramps.chain.devchain import (
    AnvilProcess,
    PortInUseError,
    ToolMissingError,
    anvil_binary,
    contract_artifact,
    dev_private_key,
    token_balance,
    token_contract,
    token_deploy,
    token_mint,
    token_transfer,
)


def test_anvil_binary_is_the_npm_one():
    binary = anvil_binary()

    assert binary.is_file()
    assert os.access(binary, os.X_OK)
    assert "node_modules" in binary.parts


def test_missing_anvil_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(devchain, "_ANVIL_CANDIDATES", (tmp_path / "anvil",))

    with pytest.raises(ToolMissingError) as raised:
        anvil_binary()

    assert str(raised.value) == "anvil not found: run `npm install` (make demo does it)"


def test_port_in_use_is_a_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = AnvilProcess(port=port)

        with pytest.raises(PortInUseError) as raised:
            process.start()

    assert raised.value.port == port
    assert str(port) in str(raised.value)
    assert not process.running


def test_interval_mining_and_stop():
    process = AnvilProcess(block_time=0.2, chain_id=1337).start()
    try:
        w3 = process.w3
        assert w3.eth.chain_id == 1337
        assert process.caip2 == "eip155:1337"
        first = w3.eth.block_number
        time.sleep(0.7)
        assert w3.eth.block_number > first
    finally:
        process.stop()
    process.stop()  # stopping twice is harmless

    assert not process.running
    # The port can be used again at once, by a new node on it.
    again = AnvilProcess(port=process.port).start()
    again.stop()


def test_stable_token_has_constructor_metadata(anvil):
    w3 = anvil.w3
    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="USD Coin (local)",
                         symbol="USDC", decimals=6)
    contract = token_contract(w3, token)

    assert Web3.is_checksum_address(token)
    assert contract.functions.name().call() == "USD Coin (local)"
    assert contract.functions.symbol().call() == "USDC"
    assert contract.functions.decimals().call() == 6
    assert contract.functions.owner().call() == w3.eth.accounts[0]
    assert contract.functions.totalSupply().call() == 0


def test_only_the_owner_mints(anvil, stable_token):
    w3 = anvil.w3
    contract = token_contract(w3, stable_token)
    supply = contract.functions.totalSupply().call()

    with pytest.raises(ContractLogicError):
        contract.functions.mint(w3.eth.accounts[3], 1).transact({"from": w3.eth.accounts[3]})

    assert contract.functions.totalSupply().call() == supply
    assert token_balance(w3, stable_token, w3.eth.accounts[3]) == 0


def test_transfer_signed_locally_emits_transfer_event(anvil, stable_token):
    w3 = anvil.w3
    sender, recipient = w3.eth.accounts[1], w3.eth.accounts[4]
    before = token_balance(w3, stable_token, sender)

    tx_hash = token_transfer(w3, stable_token, to=recipient, amount_base_units=1_234_567,
                             sender_private_key=dev_private_key(1))

    receipt = w3.eth.get_transaction_receipt(tx_hash)
    events = token_contract(w3, stable_token).events.Transfer().process_receipt(receipt)
    assert [(event.args["from"], event.args["to"], event.args["value"]) for event in events] == [
        (sender, recipient, 1_234_567)
    ]
    assert token_balance(w3, stable_token, sender) == before - 1_234_567
    assert token_balance(w3, stable_token, recipient) == 1_234_567


def test_transfer_beyond_balance_reverts(anvil, stable_token):
    w3 = anvil.w3
    poor = w3.eth.accounts[5]

    with pytest.raises(ContractLogicError):
        token_transfer(w3, stable_token, to=w3.eth.accounts[1], amount_base_units=1, sender=poor)


def test_no_bool_token_transfer_returns_nothing(anvil):
    w3 = anvil.w3
    abi = contract_artifact("NoBoolToken")["abi"]
    transfer_abi = next(item for item in abi if item.get("name") == "transfer")
    assert transfer_abi["outputs"] == []

    token = token_deploy(w3, deployer=w3.eth.accounts[0], name="Tether (local)",
                         symbol="USDT", decimals=6, artifact="NoBoolToken")
    token_mint(w3, token, w3.eth.accounts[1], 500, artifact="NoBoolToken")
    token_transfer(w3, token, to=w3.eth.accounts[6], amount_base_units=200,
                   sender=w3.eth.accounts[1], artifact="NoBoolToken")

    assert token_balance(w3, token, w3.eth.accounts[6], artifact="NoBoolToken") == 200
    assert token_balance(w3, token, w3.eth.accounts[1], artifact="NoBoolToken") == 300


def test_committed_artifacts_match_the_sources():
    # The build script is the only writer of the artifacts; this catches a source edited
    # without rebuilding.
    for name in ("StableToken", "NoBoolToken"):
        artifact = contract_artifact(name)
        assert artifact["contractName"] == name
        assert artifact["bytecode"].startswith("0x6")
        assert artifact["compiler"].startswith("solc 0.8.28")
