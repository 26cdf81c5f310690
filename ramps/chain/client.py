"""JSON-RPC client of an EVM node: the only module of the gateway that talks to a node.

Everything the chain side asks a node goes through ``ChainClient``: configuration checks
(chain id, head, finality tags, token metadata), the watcher's raw ``eth_getLogs`` and block
reads, and the outbound side's fees, nonces, gas, broadcasts and receipts. It answers in plain
Python values (ints, hex strings, small dataclasses), so no caller handles web3 types, and a
failure of the node or of the connection is one of ``RPC_ERRORS``; anything else is a bug.

The watcher's hot paths (``transfer_logs``, ``block``, ``blocks``) use raw requests: web3's
result formatting costs more than the call itself at high log rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.conf import settings
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception

if TYPE_CHECKING:
    from ramps.chain.models import Chain

# Failures of the node or of the connection to it; anything else is a bug and propagates.
RPC_ERRORS = (Web3Exception, requests.RequestException, OSError, ValueError, KeyError)

# keccak256("Transfer(address,address,uint256)"), the topic of every ERC-20 Transfer event.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

# The part of the ERC-20 ABI the gateway uses: metadata, balances, transfers.
ERC20_ABI = [
    {"type": "function", "name": "decimals", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "uint8"}]},
    {"type": "function", "name": "symbol", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "string"}]},
    {"type": "function", "name": "balanceOf", "stateMutability": "view",
     "inputs": [{"name": "owner", "type": "address"}],
     "outputs": [{"name": "", "type": "uint256"}]},
    # Declared without outputs so that USDT-style tokens, which return nothing, encode the
    # same; success is judged from the receipt status, never from return data.
    {"type": "function", "name": "transfer", "stateMutability": "nonpayable",
     "inputs": [{"name": "to", "type": "address"}, {"name": "value", "type": "uint256"}],
     "outputs": []},
]

# Blocks per JSON-RPC batch; hosted nodes cap batches (often at 100 to 1,000 calls).
BATCH_SIZE = 100

# Fragments of the messages nodes and hosted providers use to refuse a getLogs range (geth,
# erigon, Alchemy, Infura, QuickNode, Ankr, BSC nodes...).
_RANGE_REFUSALS = (
    "range", "too many", "too large", "limit", "exceed", "response size", "timeout",
    "timed out", "10000 results", "query returned more than",
)

# One ABI encoder for ``transfer`` calls; encoding needs no node.
_ERC20 = Web3().eth.contract(abi=ERC20_ABI)


class RangeRefusedError(Exception):
    """The node would not serve this eth_getLogs range: too many blocks or results, or timed
    out. A smaller range may work."""


@dataclass(frozen=True)
class Receipt:
    """What the outbound side needs of a transaction receipt."""

    tx_hash: str
    block_number: int
    succeeded: bool


def web3_for_url(rpc_url: str, *, timeout: float | None = None) -> Web3:
    """A Web3 over HTTP with the outbound timeout and without web3's own retries.

    The watcher polls again on its next tick, so retrying inside one call would only multiply
    the time a dead node can hold a worker.
    """
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout or settings.OUTBOUND_HTTP_TIMEOUT_SECONDS},
        exception_retry_configuration=None,
    )
    return Web3(provider)


def redact_rpc_url(message: str, rpc_url: str) -> str:
    """Remove the RPC URL's secret parts from ``message``.

    Hosted nodes put the API key in the path, the query or the user info, and HTTP errors quote
    the URL they failed on; such a message must not reach logs or the admin as it is.
    """
    parts = urlsplit(rpc_url)
    secrets = [rpc_url]
    if parts.path not in ("", "/"):
        secrets.append(parts.path)
    if parts.query:
        secrets.append(parts.query)
    if parts.password:
        secrets.append(parts.password)
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "<rpc>")
    return message


def erc20_transfer_call(*, token_address: str, from_address: str, to_address: str,
                        amount: int) -> dict:
    """``from``/``to``/``value``/``data`` of an ERC-20 ``transfer`` (no node needed)."""
    data = _ERC20.encode_abi("transfer", args=[to_address, amount])
    return {"from": from_address, "to": token_address, "value": 0, "data": data}


def _hex(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value.lower() if value.startswith("0x") else "0x" + value.lower()


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _error_message(error: object) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


class ChainClient:
    """One node, by its RPC URL. Cheap to build: one per call site and pass is fine."""

    def __init__(self, rpc_url: str, *, timeout: float | None = None) -> None:
        self.rpc_url = rpc_url
        self._w3 = web3_for_url(rpc_url, timeout=timeout)

    @classmethod
    def for_chain(cls, chain: Chain) -> ChainClient:
        return cls(chain.rpc_url)

    def error_text(self, exc: BaseException) -> str:
        """``exc`` as a line for logs and the admin, without the URL's secrets."""
        return redact_rpc_url(f"{type(exc).__name__}: {exc}", self.rpc_url)

    # --- the node and its blocks ---------------------------------------------------------

    def chain_id(self) -> int:
        return int(self._w3.eth.chain_id)

    def head(self) -> int:
        return int(self._w3.eth.block_number)

    def block_number_at(self, tag: str) -> int:
        """Number of the block the node names ``tag`` (``safe``, ``finalized``, ``latest``)."""
        return int(self._w3.eth.get_block(tag)["number"])

    def block(self, number: int) -> tuple[str, int] | None:
        """(hash, timestamp) of the node's block at ``number``, or None if it has no such
        block."""
        response = self._w3.provider.make_request("eth_getBlockByNumber", [hex(number), False])
        error = response.get("error")
        if error:
            raise ValueError(f"eth_getBlockByNumber failed: {_error_message(error)}")
        block = response.get("result")
        if block is None:
            return None
        return _hex(block["hash"]), _int(block["timestamp"])

    def blocks(self, numbers: set[int]) -> dict[int, tuple[str, int] | None]:
        """(hash, timestamp) of the node's blocks at ``numbers`` (None where it has none).

        Asked in JSON-RPC batches rather than one round trip per block; a node or proxy that
        refuses batches, or answers one with an error, is asked block by block instead.
        """
        ordered = sorted(numbers)
        found: dict[int, tuple[str, int] | None] = {}
        for offset in range(0, len(ordered), BATCH_SIZE):
            chunk = ordered[offset:offset + BATCH_SIZE]
            answers = None
            if len(chunk) > 1:
                try:
                    answers = self._w3.provider.make_batch_request(
                        [("eth_getBlockByNumber", [hex(number), False]) for number in chunk]
                    )
                except RPC_ERRORS:
                    answers = None
            if not (isinstance(answers, list) and len(answers) == len(chunk) and all(
                    isinstance(answer, dict) and "result" in answer and not answer.get("error")
                    for answer in answers)):
                found.update((number, self.block(number)) for number in chunk)
                continue
            for number, answer in zip(chunk, answers, strict=True):
                block = answer["result"]
                found[number] = None if block is None else (_hex(block["hash"]),
                                                            _int(block["timestamp"]))
        return found

    def transfer_logs(self, *, start: int, end: int, contracts: list[str]) -> list[dict]:
        """Raw ``eth_getLogs`` answer for ERC-20 Transfer events of ``contracts`` (hex strings,
        no web3 formatting). Raises ``RangeRefusedError`` when the node refuses the range."""
        try:
            response = self._w3.provider.make_request(
                "eth_getLogs",
                [{"fromBlock": hex(start), "toBlock": hex(end), "address": contracts,
                  "topics": [TRANSFER_TOPIC]}],
            )
        except requests.Timeout as exc:
            raise RangeRefusedError(f"timeout: {exc}") from exc
        error = response.get("error")
        if error:
            message = _error_message(error)
            if any(fragment in message.lower() for fragment in _RANGE_REFUSALS):
                raise RangeRefusedError(message)
            raise ValueError(f"eth_getLogs failed: {message}")
        logs = response.get("result")
        if not isinstance(logs, list):
            raise ValueError("eth_getLogs answered without a list of logs")
        return logs

    # --- accounts and tokens -------------------------------------------------------------

    def code(self, address: str) -> bytes:
        """The contract code at ``address`` (empty for a plain account)."""
        return bytes(self._w3.eth.get_code(address))

    def native_balance(self, address: str) -> int:
        """Balance of ``address`` in the chain's native coin, in wei."""
        return int(self._w3.eth.get_balance(address))

    def _token(self, token_address: str):
        return self._w3.eth.contract(address=token_address, abi=ERC20_ABI)

    def erc20_decimals(self, token_address: str) -> int:
        return int(self._token(token_address).functions.decimals().call())

    def erc20_symbol(self, token_address: str) -> str:
        return str(self._token(token_address).functions.symbol().call())

    def erc20_balance(self, token_address: str, owner: str) -> int:
        """``owner``'s balance of the token, in its integer base units."""
        return int(self._token(token_address).functions.balanceOf(owner).call())

    # --- sending -------------------------------------------------------------------------

    def fees(self) -> tuple[int, int]:
        """(max fee, priority fee) per gas for a transaction sent now."""
        base = int(self._w3.eth.get_block("latest").get("baseFeePerGas")
                   or self._w3.eth.gas_price)
        priority = int(self._w3.eth.max_priority_fee)
        return 2 * base + priority, priority

    def estimate_gas(self, call: dict) -> int:
        return int(self._w3.eth.estimate_gas(call))

    def nonce(self, address: str, *, pending: bool) -> int:
        """Transactions sent from ``address``: mined only, or with the node's pending ones."""
        return int(self._w3.eth.get_transaction_count(address,
                                                      "pending" if pending else "latest"))

    def send_raw_transaction(self, raw_transaction: str) -> None:
        self._w3.eth.send_raw_transaction(raw_transaction)

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of a mined transaction, or None while the node knows of none."""
        try:
            receipt = self._w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        return Receipt(tx_hash=receipt["transactionHash"].to_0x_hex(),
                       block_number=int(receipt["blockNumber"]),
                       succeeded=int(receipt["status"]) == 1)

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (mined or in its pool)."""
        try:
            self._w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True
