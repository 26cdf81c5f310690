"""Decoding ERC-20 Transfer logs as the node gives them (raw hex), before any database write."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ramps.chain.client import TRANSFER_TOPIC
from ramps.chain.deposits import checksum_topic_address, transfer_log_parse
from ramps.chain.models import Token
from ramps.chain.validators import to_checksum_address

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKENS = {TOKEN.lower(): Token(symbol="USDC", contract_address=TOKEN, decimals=6)}

addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
amounts = st.integers(min_value=1, max_value=2**256 - 1)


def raw_log(*, source: str, destination: str, amount: int, **overrides) -> dict:
    log = {
        "address": TOKEN.lower(),
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + source[2:], "0x" + "0" * 24 + destination[2:]],
        "data": "0x" + amount.to_bytes(32, "big").hex(),
        "transactionHash": "0x" + "ab" * 32, "logIndex": "0x3",
        "blockNumber": "0x10", "blockHash": "0x" + "CD" * 32, "blockTimestamp": "0x6553f100",
    }
    return {**log, **overrides}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(source=addresses, destination=addresses, amount=amounts)
def test_every_amount_and_address_is_decoded_exactly(source, destination, amount):
    parsed = transfer_log_parse(raw_log(source=source, destination=destination, amount=amount),
                                TOKENS)

    assert parsed is not None
    assert parsed.amount == amount  # integer base units, never a float
    assert parsed.to_address == to_checksum_address(destination)
    assert parsed.from_address == to_checksum_address(source)
    assert (parsed.tx_hash, parsed.log_index, parsed.block_number) == ("0x" + "ab" * 32, 3, 16)
    assert parsed.block_hash == "0x" + "cd" * 32  # hashes are stored lowercase
    assert parsed.block_timestamp == 0x6553F100
    assert parsed.token is TOKENS[TOKEN.lower()]


@settings(max_examples=50, deadline=None, derandomize=True)
@given(source=addresses, destination=addresses)
def test_logs_that_are_not_a_payment_are_skipped(source, destination):
    def parse(**overrides):
        return transfer_log_parse(raw_log(source=source, destination=destination, amount=5,
                                          **overrides), TOKENS)

    assert transfer_log_parse(raw_log(source=source, destination=destination, amount=0),
                              TOKENS) is None  # zero value: address-poisoning spam
    assert parse(removed=True) is None  # from a block the node dropped
    assert parse(address="0x" + "11" * 20) is None  # not a configured token
    assert parse(topics=[TRANSFER_TOPIC, "0x" + "0" * 64]) is None
    assert parse(topics=[TRANSFER_TOPIC, "0x" + "0" * 64, "0x" + "0" * 64,
                         "0x" + "0" * 63 + "7"]) is None  # ERC-721: the token id is indexed
    assert parse(topics=["0x" + "ee" * 32, "0x" + "0" * 64, "0x" + "0" * 64]) is None
    assert parse(data="0x" + "00" * 31 + "05" + "00") is None  # not one uint256


def test_a_log_without_block_timestamp_leaves_it_to_be_read():
    log = raw_log(source="0x" + "01" * 20, destination="0x" + "02" * 20, amount=7)
    del log["blockTimestamp"]

    assert transfer_log_parse(log, TOKENS).block_timestamp is None


def test_topic_addresses_are_checksummed_from_their_last_forty_digits():
    topic = "0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"

    assert checksum_topic_address(topic) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
