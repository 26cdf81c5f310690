"""A local EVM chain for the demo and the tests: anvil from npm, plus the project's own token.

Nothing here is used in production. The anvil binary comes from the npm package
``@foundry-rs/anvil`` installed in the project's ``node_modules``; the token is compiled from
``contracts/StableToken.sol`` into the committed artifact ``ramps/chain/contracts/*.json``, so
neither a compiler nor the internet is needed at run time.

Anvil's dev accounts are derived from the well-known mnemonic below and are unlocked on the
node, so a transaction can be sent from them by address; ``dev_private_key`` gives their keys
for code that signs locally, as a real sender's wallet would.
"""

import json
import logging
import socket
import subprocess
import tempfile
import time
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from web3 import Web3
from web3.types import TxParams

from ramps.chain.client import RPC_ERRORS, ChainClient

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(__file__).resolve().parent / "contracts"

# Anvil's default mnemonic: public knowledge, funds on it exist only on local dev chains.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DEFAULT_CHAIN_ID = 31337

_ANVIL_CANDIDATES = (
    PROJECT_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
    PROJECT_ROOT / "node_modules" / ".bin" / "anvil",
)


class ToolMissingError(RuntimeError):
    """A development tool (anvil) is not installed where the project expects it."""


class PortInUseError(RuntimeError):
    """The port asked for is already taken by another process."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


class AnvilStartError(RuntimeError):
    """Anvil exited or did not answer JSON-RPC in time."""


def anvil_binary() -> Path:
    """Path of the anvil executable installed by ``npm install``."""
    for candidate in _ANVIL_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise ToolMissingError("anvil not found: run `npm install` (make demo does it)")


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """True if nothing listens on ``port``. SO_REUSEADDR, as servers set it, lets a port that
    only has connections in TIME_WAIT (a node just stopped) count as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class AnvilProcess:
    """One anvil node on 127.0.0.1, started by ``start()`` and ended by ``stop()``.

    ``block_time`` is the interval in seconds between blocks (a float is fine); ``None`` keeps
    anvil's automine mode, where every transaction is mined at once in its own block, which
    makes tests fast and their block numbers predictable.
    """

    def __init__(self, *, port: int | None = None, chain_id: int = ANVIL_DEFAULT_CHAIN_ID,
                 block_time: float | None = None, mnemonic: str = ANVIL_MNEMONIC,
                 accounts: int = 10, start_timeout: float = 20.0) -> None:
        self.port = port if port is not None else free_port()
        self.chain_id = chain_id
        self.block_time = block_time
        self.mnemonic = mnemonic
        self.accounts = accounts
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def caip2(self) -> str:
        return f"eip155:{self.chain_id}"

    def command(self) -> list[str]:
        command = [
            str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
            "--chain-id", str(self.chain_id), "--mnemonic", self.mnemonic,
            "--accounts", str(self.accounts),
        ]
        if self.block_time is not None:
            command += ["--block-time", repr(float(self.block_time))]
        return command

    def start(self) -> "AnvilProcess":
        if self._process is not None:
            raise AnvilStartError("this anvil process is already started")
        command = self.command()
        if not _port_is_free(self.port):
            raise PortInUseError(self.port)
        # Output goes to a file, not a pipe: an unread pipe would fill up and stall anvil.
        self._log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(command, stdout=self._log_file,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self._output()
                self._close()
                if "in use" in output.lower():
                    raise PortInUseError(self.port)
                raise AnvilStartError(f"anvil exited at start: {output[-2000:]}")
            if self._answers():
                logger.info("anvil started on port %s (chain id %s)", self.port, self.chain_id)
                return self
            time.sleep(0.05)
        output = self._output()
        self.stop()
        raise AnvilStartError(
            f"anvil did not answer on port {self.port} within {self.start_timeout}s: "
            f"{output[-2000:]}"
        )

    def _answers(self) -> bool:
        try:
            return ChainClient(self.rpc_url, timeout=1.0).chain_id() == self.chain_id
        except RPC_ERRORS:
            return False

    def _output(self) -> str:
        if self._log_file is None:
            return ""
        self._log_file.seek(0)
        return self._log_file.read().decode("utf-8", errors="replace")

    def _close(self) -> None:
        self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._close()
        logger.info("anvil on port %s stopped", self.port)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def web3(self) -> Web3:
        """A fresh Web3 client of this node."""
        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))

    @cached_property
    def w3(self) -> Web3:
        """A Web3 client of this node, shared by the callers of this object."""
        return self.web3()

    def __enter__(self) -> "AnvilProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def dev_private_key(index: int = 0, *, mnemonic: str = ANVIL_MNEMONIC) -> str:
    """Private key (0x hex) of dev account ``index`` (path m/44'/60'/0'/0/index)."""
    seed = Bip39SeedGenerator(mnemonic).Generate()
    node = (Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
            .Change(Bip44Changes.CHAIN_EXT).AddressIndex(index))
    return "0x" + node.PrivateKey().Raw().ToHex()


@cache
def contract_artifact(name: str = "StableToken") -> dict[str, Any]:
    """ABI and creation bytecode compiled by ``contracts/build.sh``."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ToolMissingError(f"contract artifact {path} missing: run contracts/build.sh")
    return json.loads(path.read_text())


def token_contract(w3: Web3, token: str, *, artifact: str = "StableToken") -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(token),
                           abi=contract_artifact(artifact)["abi"])


def _send(w3: Web3, tx: TxParams, *, sender: str | None, sender_private_key: str | None,
          wait: bool) -> str:
    """Send ``tx`` from an account unlocked on the node (``sender``) or signed here."""
    if (sender is None) == (sender_private_key is None):
        raise ValueError("give exactly one of sender and sender_private_key")
    if sender_private_key is not None:
        account = Account.from_key(sender_private_key)
        tx = {**tx, "from": account.address,
              "nonce": w3.eth.get_transaction_count(account.address, "pending"),
              "chainId": w3.eth.chain_id}
        if "gas" not in tx:
            tx["gas"] = w3.eth.estimate_gas(tx)
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            tx["gasPrice"] = w3.eth.gas_price
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    else:
        tx = {**tx, "from": Web3.to_checksum_address(sender)}
        tx_hash = w3.eth.send_transaction(tx)
    if wait:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.05)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} reverted")
    return tx_hash.to_0x_hex()


def token_deploy(w3: Web3, *, deployer: str | None = None, deployer_private_key: str | None = None,
                 name: str, symbol: str, decimals: int, artifact: str = "StableToken") -> str:
    """Deploy a fresh token; returns its checksummed address. The deployer is its minter."""
    compiled = contract_artifact(artifact)
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    tx = factory.constructor(name, symbol, decimals).build_transaction(
        {"from": Web3.to_checksum_address(
            deployer or Account.from_key(deployer_private_key).address)}
    )
    tx_hash = _send(w3, tx, sender=deployer, sender_private_key=deployer_private_key, wait=True)
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    return Web3.to_checksum_address(receipt["contractAddress"])


def token_mint(w3: Web3, token: str, to: str, amount_base_units: int, *,
               minter: str | None = None, artifact: str = "StableToken") -> str:
    """Mint ``amount_base_units`` to ``to``, sent by the token's owner (unlocked on anvil)."""
    if not isinstance(amount_base_units, int):
        raise TypeError("amount_base_units must be an int")
    contract = token_contract(w3, token, artifact=artifact)
    minter = minter or contract.functions.owner().call()
    tx = contract.functions.mint(Web3.to_checksum_address(to), amount_base_units).build_transaction(
        {"from": Web3.to_checksum_address(minter)}
    )
    return _send(w3, tx, sender=minter, sender_private_key=None, wait=True)


def token_transfer(w3: Web3, token: str, *, to: str, amount_base_units: int,
                   sender: str | None = None, sender_private_key: str | None = None,
                   wait: bool = True, artifact: str = "StableToken") -> str:
    """ERC-20 ``transfer`` from ``sender`` (unlocked) or the holder of ``sender_private_key``.

    Returns the transaction hash (0x hex). With ``wait`` the call returns once the transaction
    is mined and raises if it reverted.
    """
    if not isinstance(amount_base_units, int):
        raise TypeError("amount_base_units must be an int")
    contract = token_contract(w3, token, artifact=artifact)
    source = sender or Account.from_key(sender_private_key).address
    tx = contract.functions.transfer(Web3.to_checksum_address(to),
                                     amount_base_units).build_transaction(
        {"from": Web3.to_checksum_address(source)}
    )
    # build_transaction fills nonce and fees for the sender; _send signs or forwards it.
    tx.pop("nonce", None)
    return _send(w3, tx, sender=sender, sender_private_key=sender_private_key, wait=wait)


def token_balance(w3: Web3, token: str, holder: str, *, artifact: str = "StableToken") -> int:
    return int(token_contract(w3, token, artifact=artifact).functions.balanceOf(
        Web3.to_checksum_address(holder)).call())


def mine(w3: Web3, blocks: int = 1) -> None:
    """Mine ``blocks`` empty blocks at once (anvil's ``anvil_mine``)."""
    w3.provider.make_request("anvil_mine", [hex(blocks)])
