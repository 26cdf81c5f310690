"""Writes of the chain side: deposit addresses, the log watcher, confirmations and reorgs.

How a scan stays correct:

* The cursor (``Chain.cursor_block``) is the last block whose logs are recorded. Deposits found
  in a range and the cursor move past that range are committed in one transaction, so a crash
  either keeps both or neither; a rescan of a committed range inserts nothing twice, because a
  deposit is keyed by (chain, tx_hash, log_index) under a unique constraint.
* The hash of the last block of every range, and of every block that holds a deposit, is kept
  in ``ChainBlock``. At the start of a pass the stored hash at the cursor is compared with the
  node's; if they differ, the highest stored block that still matches is the fork point: the
  cursor goes back there and ``seen`` deposits above it become ``reorged``. The rescan finds
  the transactions that were mined again and turns their deposits back into ``seen`` with the
  new block.
* A ``seen`` deposit becomes ``confirmed`` only when its block is ``confirmations`` deep and the
  node still has the same hash at that height; a different hash makes it ``reorged`` (and moves
  the cursor back so the rescan can find it again).
* A confirmed deposit whose block later leaves the chain is a reorg deeper than the chain's
  finality setting. Its status stays ``confirmed`` (it may already be credited); it is reported
  in ``ScanResult.deep_reorged_deposits``, logged as an error and stored in ``last_error`` so
  that the gateway opens an incident instead of letting it pass silently.

All writes of the watcher lock the chain row first, so two scans of one chain never interleave
their writes, and ``deposit_address_allocate`` (which locks it too) never races a scan's
address lookup.
"""

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache

import requests
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins, Bip44Levels
from bip_utils.base58.base58_ex import Base58ChecksumError
from bip_utils.bip.bip32.bip32_ex import Bip32KeyError
from bip_utils.bip.bip44_base.bip44_base_ex import Bip44DepthError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from web3 import Web3
from web3.exceptions import Web3Exception

from gateway.common.problems import ConflictError
from ramps.chain.client import redact_rpc_url, web3_for, web3_for_url
from ramps.chain.errors import (
    ChainConfigError,
    DepositAlreadyCreditedError,
    DepositAlreadyRefundedError,
    DepositNotConfirmedError,
    InvalidRefundAddressError,
    InvalidXpubError,
)
from ramps.chain.models import (
    Chain,
    ChainBlock,
    ChainIncident,
    Deposit,
    DepositAddress,
    OutboundTransaction,
    Token,
)
from ramps.chain.validators import checksum_address_problem
from ramps.chain.watchlist import address_watchlist

logger = logging.getLogger(__name__)

# keccak256("Transfer(address,address,uint256)"), the topic of every ERC-20 Transfer event.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

# Failures of the node or of the connection to it; anything else is a bug and propagates.
RPC_ERRORS = (Web3Exception, requests.RequestException, OSError, ValueError, KeyError)

# Stored block hashes older than this many blocks behind the cursor are pruned. They only serve
# to find a fork point, and no reorg the gateway can repair is that deep.
MIN_BLOCK_RETENTION = 256


# --- configuration ---------------------------------------------------------------------------

_CAIP2_EIP155 = re.compile(r"^eip155:([1-9][0-9]{0,19})$")

# The part of the ERC-20 ABI needed to check a token: metadata and balances.
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


def _checksum(address: str, *, what: str) -> str:
    address = (address or "").strip()
    if not Web3.is_address(address):
        raise ChainConfigError(f"{what} {address!r} is not an EVM address.")
    if address != address.lower() and address != address.upper() and (
            not Web3.is_checksum_address(address)):
        raise ChainConfigError(f"{what} {address!r} has a wrong EIP-55 checksum (a typo?).")
    return Web3.to_checksum_address(address)


def chain_add(*, caip2: str, name: str, rpc_url: str, confirmations: int = 12,
              finality: str = Chain.Finality.DEPTH, poll_interval_seconds: int = 5,
              max_log_range: int = 1000, xpub: str = "", treasury_address: str = "",
              start_block: int | None = None) -> Chain:
    """Configure a chain after checking the node really serves it.

    The node's ``eth_chainId`` must equal the CAIP-2 id (an RPC URL of another chain would
    hand out addresses and credit deposits on the wrong chain); the ``safe``/``finalized``
    tag, when chosen, must be served; scanning starts at the node's head unless told.
    """
    match = _CAIP2_EIP155.match((caip2 or "").strip())
    if match is None:
        raise ChainConfigError(f"{caip2!r} is not an EVM CAIP-2 id (eip155:<chain id>).")
    chain_id = int(match.group(1))
    if finality not in Chain.Finality.values:
        raise ChainConfigError(f"Finality must be one of {', '.join(Chain.Finality.values)}.")
    if confirmations < 1 or max_log_range < 1 or poll_interval_seconds < 1:
        raise ChainConfigError("confirmations, max_log_range and poll interval must be >= 1.")
    if xpub:
        deposit_address_derive(xpub=xpub.strip(), index=0)
    treasury = _checksum(treasury_address, what="Treasury address") if treasury_address else ""
    w3 = web3_for_url(rpc_url)
    try:
        node_chain_id = int(w3.eth.chain_id)
        head = int(w3.eth.block_number)
        if finality != Chain.Finality.DEPTH:
            w3.eth.get_block(str(finality))
    except RPC_ERRORS as exc:
        raise ChainConfigError(
            "The node did not answer: " + redact_rpc_url(f"{type(exc).__name__}: {exc}", rpc_url)
        ) from exc
    if node_chain_id != chain_id:
        raise ChainConfigError(
            f"The node serves chain id {node_chain_id}, not {chain_id} ({caip2})."
        )
    try:
        with transaction.atomic():
            chain = Chain.objects.create(
                caip2=caip2.strip(), name=name, chain_id=chain_id, rpc_url=rpc_url,
                confirmations=confirmations, finality=finality,
                poll_interval_seconds=poll_interval_seconds, max_log_range=max_log_range,
                xpub=xpub.strip(), treasury_address=treasury,
                start_block=head + 1 if start_block is None else start_block,
            )
    except IntegrityError as exc:
        raise ConflictError(f"Chain {caip2} is already configured.",
                            slug="chain-exists") from exc
    logger.info("chain %s added (chain id %s, finality %s)", caip2, chain_id, finality)
    return chain


def _token_metadata(*, chain: Chain, contract_address: str) -> tuple[int, str]:
    """(decimals, symbol) read from the contract; refuses an address without code."""
    w3 = web3_for(chain)
    try:
        if not w3.eth.get_code(contract_address):
            raise ChainConfigError(
                f"No contract at {contract_address} on {chain.caip2}: not a token address."
            )
        contract = w3.eth.contract(address=contract_address, abi=ERC20_ABI)
        decimals = int(contract.functions.decimals().call())
        try:
            symbol = str(contract.functions.symbol().call())
        except RPC_ERRORS:
            symbol = ""  # some old tokens return bytes32; the operator gives the symbol
    except ChainConfigError:
        raise
    except RPC_ERRORS as exc:
        raise ChainConfigError(
            f"Could not read decimals() of {contract_address} on {chain.caip2}: "
            + redact_rpc_url(f"{type(exc).__name__}: {exc}", chain.rpc_url)
        ) from exc
    if not 0 <= decimals <= 36:
        raise ChainConfigError(f"decimals() of {contract_address} returned {decimals}.")
    return decimals, symbol


def token_add(*, chain: Chain, contract_address: str, symbol: str = "",
              expected_decimals: int | None = None, is_accepted: bool = True) -> Token:
    """Configure a token with the decimals its contract reports.

    Decimals are never typed by hand: a wrong value scales every amount by a power of ten.
    ``expected_decimals`` (what the operator believes) must match the contract when given.
    """
    address = _checksum(contract_address, what="Token contract")
    decimals, contract_symbol = _token_metadata(chain=chain, contract_address=address)
    if expected_decimals is not None and expected_decimals != decimals:
        raise ChainConfigError(
            f"The contract reports {decimals} decimals, not {expected_decimals}."
        )
    symbol = (symbol or contract_symbol).strip()
    if not symbol or len(symbol) > 20:
        raise ChainConfigError("Give the token's symbol (at most 20 characters).")
    try:
        with transaction.atomic():
            token = Token.objects.create(chain=chain, symbol=symbol, contract_address=address,
                                         decimals=decimals, is_accepted=is_accepted)
    except IntegrityError as exc:
        raise ConflictError(f"{symbol} or {address} is already configured on {chain.caip2}.",
                            slug="token-exists") from exc
    logger.info("token %s (%s, %s decimals) added on %s", symbol, address, decimals, chain.caip2)
    return token


def token_decimals_check(*, token: Token) -> int:
    """Read the token's decimals again; raises if the contract disagrees with the stored value."""
    decimals, _ = _token_metadata(chain=token.chain, contract_address=token.contract_address)
    if decimals != token.decimals:
        raise ChainConfigError(
            f"{token}: stored decimals {token.decimals}, the contract reports {decimals}."
        )
    return decimals


def deposit_address_close(*, deposit_address: DepositAddress) -> None:
    """Record that the address's owner accepts no more deposits (idempotent).

    Deposits in blocks the watcher had not scanned yet are still recorded, flagged
    ``address_closed`` (the owner decided without them): the gateway refunds them.
    """
    # The cursor is read without the chain's lock (callers hold transfer and deposit locks; a
    # scan takes the chain's first, then deposits'). A range a scan commits at this very moment
    # is recorded unflagged; the gateway still refunds what its transfer can no longer credit.
    cursor = Chain.objects.values_list("cursor_block", flat=True).get(pk=deposit_address.chain_id)
    DepositAddress.objects.filter(pk=deposit_address.pk, closed_at__isnull=True).update(
        closed_at=timezone.now(), closed_after_block=cursor, updated_at=timezone.now()
    )
    deposit_address.refresh_from_db(fields=["closed_at", "closed_after_block"])


def chain_incident_resolve(*, incident: ChainIncident, resolved_by: str, note: str) -> None:
    """An operator closes an incident; the note says what was done about the money."""
    if not note.strip():
        raise ChainConfigError("Say how the incident was resolved.")
    with transaction.atomic():
        locked = ChainIncident.objects.select_for_update().get(pk=incident.pk)
        if locked.status == ChainIncident.Status.RESOLVED:
            raise ConflictError(f"Incident {locked.pk} is already resolved.",
                                slug="incident-resolved")
        locked.status = ChainIncident.Status.RESOLVED
        locked.resolved_at = timezone.now()
        locked.resolved_by = resolved_by
        locked.resolution_note = note.strip()
        locked.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note",
                                   "updated_at"])
    incident.status = locked.status
    incident.resolved_at = locked.resolved_at


def refund_address_validate(*, chain: Chain, address: str) -> str:
    """A refund address given for a deposit on ``chain``: checksummed, and none of the
    gateway's own addresses on that chain (a deposit address, the treasury, a token contract),
    where a refund would come back as a deposit or be lost."""
    problem = checksum_address_problem(address)
    if problem:
        raise InvalidRefundAddressError(problem)
    address = address.strip()
    if chain.treasury_address and address == chain.treasury_address:
        raise InvalidRefundAddressError(
            f"refund_address {address} is the gateway's treasury on {chain.caip2}.")
    if Token.objects.filter(chain=chain, contract_address__iexact=address).exists():
        raise InvalidRefundAddressError(
            f"refund_address {address} is a token contract on {chain.caip2}: tokens sent "
            "there are lost.")
    if DepositAddress.objects.filter(chain=chain, address=address).exists():
        raise InvalidRefundAddressError(
            f"refund_address {address} is one of the gateway's deposit addresses on "
            f"{chain.caip2}.")
    return address


# --- deposit addresses -----------------------------------------------------------------------


def xpub_from_mnemonic(mnemonic: str, account: int = 0) -> str:
    """Account-level extended public key (m/44'/60'/<account>') of a BIP-39 mnemonic.

    For the demo seed and the tests. In production the xpub is exported from wherever the
    mnemonic is kept; the gateway stores only the public half and can derive addresses but
    never spend from them.
    """
    seed = Bip39SeedGenerator(mnemonic).Generate()
    node = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(account)
    return node.PublicKey().ToExtended()


@lru_cache(maxsize=64)
def _account_node(xpub: str) -> Bip44:
    if not xpub:
        raise InvalidXpubError("The chain has no xpub configured.")
    try:
        node = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
    except Bip44DepthError as exc:
        raise InvalidXpubError(
            "The xpub must be at the account level m/44'/60'/<account>' (depth 3)."
        ) from exc
    except (Base58ChecksumError, Bip32KeyError, ValueError, TypeError) as exc:
        raise InvalidXpubError(f"Not an extended public key: {exc}") from exc
    if not node.IsPublicOnly():
        # The watcher must never hold a private key (design invariant 8).
        raise InvalidXpubError("An extended PRIVATE key was given; store only the xpub.")
    if node.Level() != Bip44Levels.ACCOUNT:
        raise InvalidXpubError(
            "The xpub must be at the account level m/44'/60'/<account>' (depth 3)."
        )
    return node


def deposit_address_derive(*, xpub: str, index: int) -> str:
    """Checksummed address at <xpub>/0/<index>, i.e. m/44'/60'/<account>'/0/<index>.

    The external chain (0) and the index are non-hardened, which is what lets them be derived
    from public data alone; the holder of the mnemonic finds the same addresses at the standard
    wallet path.
    """
    if index < 0 or index >= 2**31:
        raise ValueError("A non-hardened derivation index is in [0, 2**31).")
    node = _account_node(xpub).Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)
    return Web3.to_checksum_address(node.PublicKey().ToAddress())


def deposit_address_allocate(*, chain: Chain) -> DepositAddress:
    """Derive and record the chain's next deposit address; an index is never handed out twice.

    The chain row is locked for the whole step, so concurrent callers take consecutive
    indexes; the unique constraints on (chain, index) and (chain, address) back that up.
    """
    with transaction.atomic():
        locked = Chain.objects.select_for_update().get(pk=chain.pk)
        index = locked.next_address_index
        address = deposit_address_derive(xpub=locked.xpub, index=index)
        try:
            with transaction.atomic():
                deposit_address = DepositAddress.objects.create(
                    chain=locked, address=address, derivation_index=index
                )
        except IntegrityError as exc:
            raise ConflictError(
                f"Deposit address index {index} of {locked.caip2} is already recorded; "
                "next_address_index is behind the recorded addresses.",
                slug="deposit-address-index-taken",
            ) from exc
        locked.next_address_index = index + 1
        locked.save(update_fields=["next_address_index", "updated_at"])
    chain.next_address_index = locked.next_address_index
    logger.info("allocated deposit address index %s on %s", index, locked.caip2)
    return deposit_address


# --- scanning ---------------------------------------------------------------------------------


@dataclass
class ScanResult:
    """What one pass of ``chain_scan`` did."""

    chain_caip2: str
    new_deposits: list[Deposit] = field(default_factory=list)
    """Deposits first seen in this pass, or seen again in a new block after a reorg."""
    confirmed_deposits: list[Deposit] = field(default_factory=list)
    reorged_deposits: list[Deposit] = field(default_factory=list)
    deep_reorged_deposits: list[Deposit] = field(default_factory=list)
    """Confirmed deposits whose block left the chain: an incident, see the module docstring."""
    incidents_opened: list[ChainIncident] = field(default_factory=list)
    logs_scanned: int = 0
    log_range: int | None = None
    """Block range per eth_getLogs call at the end of the pass (after any adapting)."""
    range_shrinks: int = 0
    head: int | None = None
    cursor: int | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _hex(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value.lower() if value.startswith("0x") else "0x" + value.lower()


def _canonical_block(w3: Web3, number: int) -> tuple[str, int] | None:
    """(hash, timestamp) of the node's block at ``number``, or None if it has no such block.

    A raw request: web3's block formatting (and its extra-data checks on proof-of-authority
    chains) would cost more than the call.
    """
    response = w3.provider.make_request("eth_getBlockByNumber", [hex(number), False])
    error = response.get("error")
    if error:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        raise ValueError(f"eth_getBlockByNumber failed: {message}")
    block = response.get("result")
    if block is None:
        return None
    return _hex(block["hash"]), _int(block["timestamp"])


def _canonical_hash(w3: Web3, number: int) -> str | None:
    """Hash of the node's block at ``number``, or None if the node has no such block."""
    block = _canonical_block(w3, number)
    return None if block is None else block[0]


# Blocks per JSON-RPC batch; hosted nodes cap batches (often at 100 to 1,000 calls).
_BATCH_SIZE = 100


def _canonical_blocks(*, w3: Web3, numbers: set[int]) -> dict[int, tuple[str, int] | None]:
    """(hash, timestamp) of the node's blocks at ``numbers`` (None where it has no such block).

    Asked in JSON-RPC batches rather than one round trip per block; a node or proxy that
    refuses batches, or answers one with an error, is asked block by block instead.
    """
    ordered = sorted(numbers)
    blocks: dict[int, tuple[str, int] | None] = {}
    for offset in range(0, len(ordered), _BATCH_SIZE):
        chunk = ordered[offset:offset + _BATCH_SIZE]
        answers = None
        if len(chunk) > 1:
            try:
                answers = w3.provider.make_batch_request(
                    [("eth_getBlockByNumber", [hex(number), False]) for number in chunk]
                )
            except RPC_ERRORS:
                answers = None
        if not (isinstance(answers, list) and len(answers) == len(chunk) and all(
                isinstance(answer, dict) and "result" in answer and not answer.get("error")
                for answer in answers)):
            blocks.update((number, _canonical_block(w3, number)) for number in chunk)
            continue
        for number, answer in zip(chunk, answers, strict=True):
            block = answer["result"]
            blocks[number] = None if block is None else (_hex(block["hash"]),
                                                         _int(block["timestamp"]))
    return blocks


def _canonical_hashes(*, w3: Web3, numbers: set[int]) -> dict[int, str | None]:
    """Hashes of the node's blocks at ``numbers`` (None where the node has no such block)."""
    return {number: None if block is None else block[0]
            for number, block in _canonical_blocks(w3=w3, numbers=numbers).items()}


def _cursor_set(*, locked: Chain, cursor: int | None, timestamp: int | None = None) -> None:
    """Move the cursor; ``timestamp`` is the cursor block's own (None when unknown, e.g. after
    a rewind: the next scanned range sets it again)."""
    if cursor is not None and cursor < locked.start_block:
        cursor = None
    locked.cursor_block = cursor
    locked.cursor_block_time = _timestamp(timestamp) if cursor is not None else None
    locked.save(update_fields=["cursor_block", "cursor_block_time", "updated_at"])


def _rewind_to(*, locked: Chain, fork_point: int, result: ScanResult) -> None:
    """Move the cursor back to ``fork_point`` and retire what lay above it. Caller holds the
    chain lock inside a transaction."""
    now = timezone.now()
    orphaned = Deposit.objects.select_for_update().filter(
        chain=locked,
        block_number__gt=fork_point,
        status__in=[Deposit.Status.SEEN, Deposit.Status.CONFIRMED],
    )
    retired = []
    for deposit in orphaned:
        if deposit.status == Deposit.Status.SEEN:
            deposit.status = Deposit.Status.REORGED
            deposit.updated_at = now
            retired.append(deposit)
        else:
            _report_deep_reorg(deposit=deposit, result=result)
    if retired:
        Deposit.objects.filter(pk__in=[deposit.pk for deposit in retired]).update(
            status=Deposit.Status.REORGED, updated_at=now
        )
        result.reorged_deposits.extend(retired)
    ChainBlock.objects.filter(chain=locked, number__gt=fork_point).delete()
    _cursor_set(locked=locked, cursor=fork_point)


def _report_deep_reorg(*, deposit: Deposit, result: ScanResult) -> None:
    """Open (once) an incident for a confirmed deposit whose block left the chain.

    Runs inside the scan's transaction, so the incident and the rewind commit together; the
    unique (deposit, kind) constraint keeps it to one incident however often it is seen.
    """
    logger.error(
        "deep reorg on %s: confirmed deposit %s (tx %s, log %s, block %s) left the chain",
        deposit.chain.caip2, deposit.pk, deposit.tx_hash, deposit.log_index,
        deposit.block_number,
    )
    if deposit not in result.deep_reorged_deposits:
        result.deep_reorged_deposits.append(deposit)
    incident, created = ChainIncident.objects.get_or_create(
        deposit=deposit, kind=ChainIncident.Kind.DEEP_REORG,
        defaults={
            "chain_id": deposit.chain_id,
            "block_number": deposit.block_number,
            "detail": (
                f"Confirmed deposit {deposit.pk} (tx {deposit.tx_hash}, log {deposit.log_index}, "
                f"block {deposit.block_number} {deposit.block_hash}) left the chain; "
                f"credited: {'yes' if deposit.credited_at else 'no'}."
            ),
        },
    )
    if created:
        result.incidents_opened.append(incident)


def _reorg_check(*, chain: Chain, w3: Web3, result: ScanResult) -> None:
    """Compare the stored hash at the cursor with the node; on a mismatch rewind to the fork."""
    cursor = Chain.objects.values_list("cursor_block", flat=True).get(pk=chain.pk)
    if cursor is None:
        return
    # A block whose hash still matches vouches for all its ancestors, so the highest stored
    # block at or below the cursor decides; walking down from it finds the fork point.
    fork_point = chain.start_block - 1
    newest = True
    stored = ChainBlock.objects.filter(chain=chain, number__lte=cursor).order_by("-number")
    for block in stored.iterator():
        if _canonical_hash(w3, block.number) == block.hash:
            if newest:
                return
            fork_point = block.number
            break
        newest = False
    if newest:
        return  # nothing stored to compare with
    logger.warning("reorg on %s: cursor %s rewinds to block %s", chain.caip2, cursor, fork_point)
    with transaction.atomic():
        locked = Chain.objects.select_for_update().get(pk=chain.pk)
        if locked.cursor_block != cursor:
            return  # another scan moved the cursor meanwhile; it owns this range
        _rewind_to(locked=locked, fork_point=fork_point, result=result)


@dataclass(frozen=True)
class _TransferLog:
    token: Token
    to_address: str
    from_address: str
    amount: int
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    block_timestamp: int | None = None
    """From the log's ``blockTimestamp`` where the node gives it (anvil, recent geth/reth);
    otherwise read with the block's hash."""


@lru_cache(maxsize=4096)
def _checksum_topic_address(topic: str) -> str:
    """EIP-55 form of the address in the last 40 hex digits of a topic; cached, because the
    keccak it takes costs more than the rest of a log's decoding and payers repeat."""
    return Web3.to_checksum_address("0x" + topic[-40:])


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _parse_transfer(log: dict, tokens: dict[str, Token]) -> _TransferLog | None:
    """An ERC-20 Transfer from a known token, or None for anything else.

    Logs flagged ``removed`` belong to a block the node has dropped. Zero-value transfers are
    skipped: they move nothing and are the usual vehicle of address-poisoning spam.
    """
    if log.get("removed"):
        return None
    topics = [_hex(topic) for topic in log["topics"]]
    token = tokens.get(log["address"].lower())
    # Three topics: an ERC-20 Transfer; ERC-721 also indexes the token id (four topics).
    if token is None or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
        return None
    data = bytes(log["data"]) if not isinstance(log["data"], str) else bytes.fromhex(
        log["data"].removeprefix("0x")
    )
    if len(data) != 32:
        return None
    amount = int.from_bytes(data, "big")
    if amount == 0:
        return None
    return _TransferLog(
        token=token,
        to_address=_checksum_topic_address(topics[2]),
        from_address=_checksum_topic_address(topics[1]),
        amount=amount,
        tx_hash=_hex(log["transactionHash"]),
        log_index=_int(log["logIndex"]),
        block_number=_int(log["blockNumber"]),
        block_hash=_hex(log["blockHash"]),
        block_timestamp=(_int(log["blockTimestamp"]) if log.get("blockTimestamp") is not None
                         else None),
    )


def _with_block_timestamps(*, w3: Web3, transfers: list[_TransferLog]) -> list[_TransferLog]:
    """The transfers with their block's timestamp, read (in one batch) for the blocks whose
    logs came without one."""
    missing = {transfer.block_number for transfer in transfers if transfer.block_timestamp is None}
    if not missing:
        return transfers
    blocks = _canonical_blocks(w3=w3, numbers=missing)
    return [
        transfer if transfer.block_timestamp is not None else replace(
            transfer, block_timestamp=(
                blocks[transfer.block_number][1]
                if blocks.get(transfer.block_number)
                and blocks[transfer.block_number][0] == transfer.block_hash else None))
        for transfer in transfers
    ]


def _timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _deposit_flag(*, transfer: _TransferLog, deposit_address: DepositAddress) -> str:
    """Why an operator must see this deposit, or "" when it may be credited normally.

    A closed address is judged by the deposit's block against the cursor when it closed, never
    by comparing a block's timestamp (chain time) with this server's clock: the two drift
    apart (a node's clock, a lagging watcher, a dev chain rewound by a reorg), and a payment
    the owner had already seen must never be flagged, nor a later one missed.
    """
    if not transfer.token.is_accepted:
        return Deposit.Flag.TOKEN_NOT_ACCEPTED
    if deposit_address.closed_at is not None and (
            deposit_address.closed_after_block is None
            or transfer.block_number > deposit_address.closed_after_block):
        return Deposit.Flag.ADDRESS_CLOSED
    return Deposit.Flag.NONE


def _deposits_insert(*, deposits: list[Deposit]) -> set[tuple[str, int]]:
    """Insert the deposits whose log is not recorded yet; returns the (tx_hash, log_index) of
    those inserted, whose ``pk`` is then set.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the unique (chain, tx_hash, log_index)
    constraint decides which logs are new, so there is neither a query per log nor a
    check-then-create. ``bulk_create(ignore_conflicts=True)`` cannot say which rows it
    inserted (it returns no primary keys), hence the statement is built here from the model.
    On PostgreSQL the rows travel as one array per column (``unnest``): one statement with
    fifteen parameters for one deposit or ten thousand, where a VALUES list would make the
    driver split a text of thousands of placeholders. SQLite (the demo) gets VALUES lists
    within its parameter limit.
    """
    meta = Deposit._meta
    quote = connection.ops.quote_name
    fields = [model_field for model_field in meta.concrete_fields if not model_field.primary_key]
    rows = [
        [model_field.get_db_prep_save(model_field.pre_save(deposit, add=True), connection)
         for model_field in fields]
        for deposit in deposits
    ]
    # Only names and types from the model's metadata go into the text; values are parameters.
    insert = "INSERT INTO {} ({}) ".format(
        quote(meta.db_table), ", ".join(quote(model_field.column) for model_field in fields)
    )
    returning = " ON CONFLICT ({}) DO NOTHING RETURNING {}, {}, {}".format(
        ", ".join(quote(meta.get_field(name).column) for name in ("chain", "tx_hash", "log_index")),
        quote(meta.pk.column), quote(meta.get_field("tx_hash").column),
        quote(meta.get_field("log_index").column),
    )
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{model_field.db_type(connection)}[]" for model_field in fields)
        statements = [(f"{insert}SELECT * FROM unnest({arrays}){returning}",  # noqa: S608
                       [list(column) for column in zip(*rows, strict=True)])]
    else:
        per_statement = max(1, (connection.features.max_query_params or 30_000) // len(fields))
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        statements = [
            (insert + "VALUES " + ", ".join([placeholders] * len(chunk)) + returning,
             [value for row in chunk for value in row])
            for chunk in (rows[offset:offset + per_statement]
                          for offset in range(0, len(rows), per_statement))
        ]
    by_key = {(deposit.tx_hash, deposit.log_index): deposit for deposit in deposits}
    inserted: set[tuple[str, int]] = set()
    with connection.cursor() as cursor:
        for statement, params in statements:
            cursor.execute(statement, params)
            for pk, tx_hash, log_index in cursor.fetchall():
                deposit = by_key[(tx_hash, log_index)]
                deposit.pk = pk
                deposit._state.adding = False
                deposit._state.db = connection.alias
                inserted.add((tx_hash, log_index))
    return inserted


def _deposit_seen_again(*, locked: Chain, deposit: Deposit, transfer: _TransferLog,
                        result: ScanResult) -> None:
    """A log already recorded: a rescan of the same block, or the transaction mined again in
    another block after a reorg. Caller holds the row lock of ``deposit``."""
    same_block = deposit.block_hash == transfer.block_hash
    if deposit.status == Deposit.Status.CONFIRMED:
        if not same_block:
            _report_deep_reorg(deposit=deposit, result=result)
        return
    if same_block and deposit.status == Deposit.Status.SEEN:
        return  # the same log scanned again: nothing new
    # Mined again in another block after a reorg: back to seen, with the block it is in now.
    deposit.status = Deposit.Status.SEEN
    deposit.block_number = transfer.block_number
    deposit.block_hash = transfer.block_hash
    deposit.block_time = _timestamp(transfer.block_timestamp)
    deposit.save(update_fields=["status", "block_number", "block_hash", "block_time",
                                "updated_at"])
    logger.info("deposit re-included on %s: tx %s log %s now in block %s", locked.caip2,
                transfer.tx_hash, transfer.log_index, transfer.block_number)
    result.new_deposits.append(deposit)


def _deposits_record(*, locked: Chain, found: list[tuple[_TransferLog, DepositAddress, str]],
                     result: ScanResult) -> None:
    """Record the deposits of one range: (transfer, its deposit address, its flag) in log order.

    New logs take one statement whatever their number; the logs already recorded (a rescan
    after a crash or a reorg) are then locked in one query and handled one by one, being few.
    """
    pending: dict[tuple[str, int], tuple[_TransferLog, Deposit]] = {}
    for transfer, deposit_address, flag in found:
        key = (transfer.tx_hash, transfer.log_index)
        if key in pending:
            continue  # a node that repeats a log in one answer
        pending[key] = (transfer, Deposit(
            chain=locked, token=transfer.token, deposit_address=deposit_address,
            tx_hash=transfer.tx_hash, log_index=transfer.log_index,
            block_number=transfer.block_number, block_hash=transfer.block_hash,
            block_time=_timestamp(transfer.block_timestamp),
            from_address=transfer.from_address, amount=transfer.amount,
            status=Deposit.Status.SEEN, flag=flag,
        ))
    if not pending:
        return
    inserted = _deposits_insert(deposits=[deposit for _, deposit in pending.values()])
    recorded: dict[tuple[str, int], Deposit] = {}
    if len(inserted) < len(pending):
        again = {tx_hash for tx_hash, log_index in pending if (tx_hash, log_index) not in inserted}
        recorded = {
            (deposit.tx_hash, deposit.log_index): deposit
            for deposit in Deposit.objects.select_for_update().filter(
                chain=locked, tx_hash__in=again
            )
        }
    for key, (transfer, deposit) in pending.items():
        if key in inserted:
            logger.info("deposit seen on %s: tx %s log %s block %s%s", locked.caip2,
                        transfer.tx_hash, transfer.log_index, transfer.block_number,
                        f" (flagged {deposit.flag})" if deposit.flag else "")
            result.new_deposits.append(deposit)
        elif key in recorded:
            _deposit_seen_again(locked=locked, deposit=recorded[key], transfer=transfer,
                                result=result)


def _blocks_store(*, chain: Chain, hashes: dict[int, str]) -> None:
    ChainBlock.objects.bulk_create(
        [ChainBlock(chain=chain, number=number, hash=block_hash)
         for number, block_hash in sorted(hashes.items())],
        update_conflicts=True,
        unique_fields=["chain", "number"],
        update_fields=["hash", "updated_at"],
    )


class _RangeRefusedError(Exception):
    """The node would not serve this eth_getLogs range: too many blocks or results, or timed
    out. A smaller range may work."""


# Fragments of the messages nodes and hosted providers use to refuse a getLogs range (geth,
# erigon, Alchemy, Infura, QuickNode, Ankr, BSC nodes...).
_RANGE_REFUSALS = (
    "range", "too many", "too large", "limit", "exceed", "response size", "timeout",
    "timed out", "10000 results", "query returned more than",
)

# Consecutive answered ranges before the range doubles again towards ``max_log_range``.
_GROW_AFTER = 2
# Refusals in one pass before the pass gives up and reports the node as failing.
_MAX_SHRINKS_PER_PASS = 24


def _logs_fetch(*, w3: Web3, start: int, end: int, contracts: list[str]) -> list[dict]:
    """Raw ``eth_getLogs`` answer (hex strings, no web3 formatting, which costs more than the
    call itself at high log rates)."""
    try:
        response = w3.provider.make_request(
            "eth_getLogs",
            [{"fromBlock": hex(start), "toBlock": hex(end), "address": contracts,
              "topics": [TRANSFER_TOPIC]}],
        )
    except requests.Timeout as exc:
        raise _RangeRefusedError(f"timeout: {exc}") from exc
    error = response.get("error")
    if error:
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        if any(fragment in message.lower() for fragment in _RANGE_REFUSALS):
            raise _RangeRefusedError(message)
        raise ValueError(f"eth_getLogs failed: {message}")
    logs = response.get("result")
    if not isinstance(logs, list):
        raise ValueError("eth_getLogs answered without a list of logs")
    return logs


def _scan_ranges(*, chain: Chain, w3: Web3, head: int, result: ScanResult) -> None:
    """Record the Transfer logs to deposit addresses from the cursor up to ``head``.

    The range per call adapts: halved when the node refuses it or times out, doubled again
    after a few answered ranges (never above ``max_log_range``); the size reached is kept on
    the chain so that the next pass starts where this one ended. Logs are matched against
    an in-memory set of the chain's deposit addresses, so the cost per log does not depend
    on how many addresses are open; only the few hits are looked up in the database.
    """
    tokens = {token.contract_address.lower(): token for token in Token.objects.filter(chain=chain)}
    if not tokens:
        return
    contracts = [Web3.to_checksum_address(address) for address in tokens]
    watchlist = address_watchlist(chain=chain)
    cursor = Chain.objects.values_list("cursor_block", flat=True).get(pk=chain.pk)
    start = cursor + 1 if cursor is not None else chain.start_block
    retention = max(MIN_BLOCK_RETENTION, 4 * chain.confirmations, 2 * chain.max_log_range)
    span = min(chain.log_range_current or chain.max_log_range, chain.max_log_range)
    # A size the node refused in this pass is not tried again in it; the next pass probes.
    ceiling = chain.max_log_range
    answered = 0
    try:
        while start <= head:
            end = min(start + span - 1, head)
            try:
                logs = _logs_fetch(w3=w3, start=start, end=end, contracts=contracts)
            except _RangeRefusedError as exc:
                result.range_shrinks += 1
                if span == 1 or result.range_shrinks > _MAX_SHRINKS_PER_PASS:
                    raise ValueError(f"eth_getLogs refused blocks {start}-{end}: {exc}") from exc
                ceiling = max(1, span // 2)
                span = max(1, span // 2)
                answered = 0
                logger.info("eth_getLogs on %s refused %s blocks (%s); range now %s",
                            chain.caip2, end - start + 1, exc, span)
                continue
            end_block = _canonical_block(w3, end)
            if end_block is None:
                return  # the node's head went back since it was read; the next pass sorts it out
            end_hash, end_timestamp = end_block
            result.logs_scanned += len(logs)
            # Cheap pre-filter on the raw topic before any parsing or checksumming.
            candidates = [log for log in logs
                          if len(log["topics"]) == 3 and log["topics"][2][-40:].lower()
                          in watchlist.addresses]
            with transaction.atomic():
                locked = Chain.objects.select_for_update().get(pk=chain.pk)
                if locked.cursor_block != cursor:
                    return  # another scan got here first
                if watchlist.refresh():
                    # Addresses allocated since the pre-filter: filter again, now under the
                    # chain lock that allocation also takes, so none can be missed.
                    candidates = [log for log in logs
                                  if len(log["topics"]) == 3 and log["topics"][2][-40:].lower()
                                  in watchlist.addresses]
                transfers = [parsed for log in candidates
                             if (parsed := _parse_transfer(log, tokens))]
                transfers = _with_block_timestamps(w3=w3, transfers=transfers)
                recipients = {transfer.to_address for transfer in transfers}
                addresses = {
                    deposit_address.address: deposit_address
                    for deposit_address in DepositAddress.objects.filter(
                        chain=locked, address__in=recipients
                    )
                } if recipients else {}
                hashes = {end: end_hash}
                found = []
                for transfer in transfers:
                    deposit_address = addresses.get(transfer.to_address)
                    if deposit_address is None:
                        continue
                    hashes[transfer.block_number] = transfer.block_hash
                    flag = _deposit_flag(transfer=transfer, deposit_address=deposit_address)
                    found.append((transfer, deposit_address, flag))
                _deposits_record(locked=locked, found=found, result=result)
                _blocks_store(chain=locked, hashes=hashes)
                ChainBlock.objects.filter(chain=locked, number__lt=end - retention).delete()
                _cursor_set(locked=locked, cursor=end, timestamp=end_timestamp)
            cursor = end
            start = end + 1
            answered += 1
            if answered >= _GROW_AFTER and span < ceiling:
                span = min(ceiling, span * 2)
                answered = 0
    finally:
        result.log_range = span
        if span != chain.log_range_current:
            Chain.objects.filter(pk=chain.pk).update(log_range_current=span)
            chain.log_range_current = span


def _final_block(*, chain: Chain, w3: Web3, head: int) -> int:
    """Highest block whose deposits are final under the chain's finality setting."""
    if chain.finality == Chain.Finality.DEPTH:
        return head - chain.confirmations + 1
    block = w3.eth.get_block(str(chain.finality))
    return int(block["number"])


def _confirm(*, chain: Chain, w3: Web3, head: int, result: ScanResult) -> None:
    """Confirm or retire the seen deposits that are deep enough."""
    deepest = _final_block(chain=chain, w3=w3, head=head)
    candidates = list(
        Deposit.objects.filter(chain=chain, status=Deposit.Status.SEEN,
                               block_number__lte=deepest).values_list("pk", "block_number")
    )
    if not candidates:
        return
    canonical = _canonical_hashes(w3=w3, numbers={number for _, number in candidates})
    now = timezone.now()
    with transaction.atomic():
        locked = Chain.objects.select_for_update().get(pk=chain.pk)
        rewind_to: int | None = None
        deposits = Deposit.objects.select_for_update().filter(
            pk__in=[pk for pk, _ in candidates], status=Deposit.Status.SEEN
        ).select_related("token", "deposit_address")
        confirmed: list[Deposit] = []
        reorged: list[Deposit] = []
        for deposit in deposits:
            if deposit.block_number not in canonical:
                continue  # moved to another block since the hashes were read; next pass
            if canonical[deposit.block_number] == deposit.block_hash:
                confirmed.append(deposit)
            else:
                reorged.append(deposit)
                candidate = deposit.block_number - 1
                rewind_to = candidate if rewind_to is None else min(rewind_to, candidate)
        # One UPDATE per outcome, under the row locks taken above.
        if confirmed:
            Deposit.objects.filter(pk__in=[deposit.pk for deposit in confirmed]).update(
                status=Deposit.Status.CONFIRMED, confirmed_at=now, updated_at=now
            )
        for deposit in confirmed:
            deposit.status = Deposit.Status.CONFIRMED
            deposit.confirmed_at = deposit.updated_at = now
            logger.info("deposit confirmed on %s: tx %s log %s", locked.caip2,
                        deposit.tx_hash, deposit.log_index)
        result.confirmed_deposits.extend(confirmed)
        if reorged:
            Deposit.objects.filter(pk__in=[deposit.pk for deposit in reorged]).update(
                status=Deposit.Status.REORGED, updated_at=now
            )
        for deposit in reorged:
            deposit.status = Deposit.Status.REORGED
            deposit.updated_at = now
            logger.warning("deposit reorged on %s: tx %s log %s (block %s replaced)",
                           locked.caip2, deposit.tx_hash, deposit.log_index,
                           deposit.block_number)
        result.reorged_deposits.extend(reorged)
        if rewind_to is not None and (locked.cursor_block is None
                                      or rewind_to < locked.cursor_block):
            # The block changed under the cursor: rescan from before it so that a transaction
            # mined again elsewhere is found.
            _rewind_to(locked=locked, fork_point=rewind_to, result=result)


def chain_scan(*, chain: Chain) -> ScanResult:
    """One pass of the watcher over ``chain``: reorg check, new logs up to head, confirmations.

    A failure of the node is recorded in ``chain.last_error`` and returned in the result; it
    never raises, so a periodic task can simply call this again on its next tick.
    """
    result = ScanResult(chain_caip2=chain.caip2)
    w3 = web3_for(chain)
    try:
        head = int(w3.eth.block_number)
        result.head = head
        cursor = Chain.objects.values_list("cursor_block", flat=True).get(pk=chain.pk)
        if cursor is not None and head < cursor:
            # A node that lags (or one behind a load balancer) must not look like a reorg:
            # treating its missing blocks as orphaned would raise false deep-reorg incidents.
            # If the chain really got shorter, the hash check finds it once it grows again.
            result.error = (
                f"Node head {head} is behind the scan cursor {cursor}; waiting for it."
            )
        else:
            _reorg_check(chain=chain, w3=w3, result=result)
            _scan_ranges(chain=chain, w3=w3, head=head, result=result)
            _confirm(chain=chain, w3=w3, head=head, result=result)
    except RPC_ERRORS as exc:
        result.error = redact_rpc_url(f"{type(exc).__name__}: {exc}", chain.rpc_url)[:2000]
        logger.warning("scan of %s failed: %s", chain.caip2, result.error)
    error = result.error
    if not error and result.deep_reorged_deposits:
        error = "Deep reorg: confirmed deposit(s) {} left the chain".format(
            ", ".join(str(deposit.pk) for deposit in result.deep_reorged_deposits)
        )
    now = timezone.now()
    fields: dict[str, object] = {"last_polled_at": now, "last_error": error, "updated_at": now}
    if result.head is not None:
        fields["head_block"] = result.head
    Chain.objects.filter(pk=chain.pk).update(**fields)
    chain.refresh_from_db(fields=["cursor_block", "head_block", "last_error", "last_polled_at"])
    result.cursor = chain.cursor_block
    return result


# --- crediting --------------------------------------------------------------------------------


def deposit_mark_credited(*, deposit: Deposit) -> None:
    """Record that the gateway credited ``deposit``: at most once, and only when final.

    Must run inside the caller's transaction, the one that also writes the credit, so that
    the mark and the credit commit together or not at all.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("deposit_mark_credited must run inside the crediting transaction")
    locked = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if locked.status != Deposit.Status.CONFIRMED:
        raise DepositNotConfirmedError(
            f"Deposit {locked.pk} is {locked.status}, not confirmed.",
            extra={"deposit_status": locked.status},
        )
    if locked.credited_at is not None:
        raise DepositAlreadyCreditedError(f"Deposit {locked.pk} is already credited.")
    if OutboundTransaction.objects.filter(deposit=locked, kind=OutboundTransaction.Kind.REFUND
                                          ).exclude(status=OutboundTransaction.Status.FAILED
                                                    ).exists():
        # Refunds lock the deposit row too: a deposit is credited or refunded, never both.
        raise DepositAlreadyRefundedError(f"Deposit {locked.pk} is being refunded.")
    locked.credited_at = timezone.now()
    locked.save(update_fields=["credited_at", "updated_at"])
    deposit.status = locked.status
    deposit.credited_at = locked.credited_at
