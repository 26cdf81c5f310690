"""Deposits from ERC-20 Transfer logs: parsing, flags, and recording them for the watcher.

A deposit is keyed by (chain, tx_hash, log_index) under a unique constraint: a rescan of a
committed range inserts nothing twice. A log's index is its position in its block, not in its
transaction, so a transaction mined again in another block after a reorg can carry its logs at
other indices (other transactions now come before it): such a log is matched to the deposit the
transaction made before, by its position among the transaction's deposit logs, and that row is
moved to its new block and index. A new row would be a second deposit for one payment: the
first stays reorged forever, with whatever credit or refund rests on it, while the second is
taken as a late deposit and refunded again.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection

from ramps.chain.client import TRANSFER_TOPIC
from ramps.chain.models import Chain, Deposit, DepositAddress, Token
from ramps.chain.validators import to_checksum_address

logger = logging.getLogger(__name__)


def _hex(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value.lower() if value.startswith("0x") else "0x" + value.lower()


@dataclass(frozen=True)
class TransferLog:
    """One ERC-20 Transfer of a known token, decoded from a raw log."""

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
def checksum_topic_address(topic: str) -> str:
    """EIP-55 form of the address in the last 40 hex digits of a topic; cached, because the
    keccak it takes costs more than the rest of a log's decoding and payers repeat."""
    return to_checksum_address("0x" + topic[-40:])


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def transfer_log_parse(log: dict, tokens: dict[str, Token]) -> TransferLog | None:
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
    return TransferLog(
        token=token,
        to_address=checksum_topic_address(topics[2]),
        from_address=checksum_topic_address(topics[1]),
        amount=amount,
        tx_hash=_hex(log["transactionHash"]),
        log_index=_int(log["logIndex"]),
        block_number=_int(log["blockNumber"]),
        block_hash=_hex(log["blockHash"]),
        block_timestamp=(_int(log["blockTimestamp"]) if log.get("blockTimestamp") is not None
                         else None),
    )


def chain_time(value: int | None) -> datetime | None:
    """A block's timestamp (seconds, chain time) as an aware datetime."""
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def deposit_flag(*, transfer: TransferLog, deposit_address: DepositAddress) -> str:
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


@dataclass
class Recorded:
    """What ``deposits_record`` did with one range's deposits."""

    new: list[Deposit] = field(default_factory=list)
    """First seen, or seen again in a new block after a reorg."""
    left_the_chain: list[Deposit] = field(default_factory=list)
    """Confirmed deposits found in another block than the one they were confirmed in: their
    block left the chain after they were final (a deep reorg). They are in ``new`` too, seen
    again in the new block."""


def _deposit_seen_again(*, locked: Chain, deposit: Deposit, transfer: TransferLog,
                        recorded: Recorded) -> None:
    """A log already recorded: a rescan of the same block, or the transaction mined again in
    another block after a reorg. Caller holds the row lock of ``deposit``."""
    same_block = deposit.block_hash == transfer.block_hash
    if same_block and deposit.status in (Deposit.Status.SEEN, Deposit.Status.CONFIRMED):
        return  # the same log scanned again: nothing new
    if deposit.status == Deposit.Status.CONFIRMED:
        # Final in a block that is no longer on the chain (a reorg the hash check did not
        # see): reported as deep, and seen again in its new block like any re-included log.
        recorded.left_the_chain.append(deposit)
    # Mined again in another block after a reorg: back to seen, with the block it is in now.
    deposit.status = Deposit.Status.SEEN
    deposit.block_number = transfer.block_number
    deposit.block_hash = transfer.block_hash
    deposit.block_time = chain_time(transfer.block_timestamp)
    deposit.save(update_fields=["status", "block_number", "block_hash", "block_time",
                                "updated_at"])
    logger.info("deposit re-included on %s: tx %s log %s now in block %s", locked.caip2,
                transfer.tx_hash, transfer.log_index, transfer.block_number)
    recorded.new.append(deposit)


def _moved_logs(*, found: list[TransferLog],
                stored: list[Deposit]) -> list[tuple[Deposit, TransferLog]]:
    """Pair a transaction's logs in a new block with the deposits it made in its old block.

    ``found``: the transaction's deposit logs in this range (one block), ``stored``: its
    recorded deposits. They pair by position when the transaction left the block its deposits
    were recorded in (a transaction is in one block at a time) and each pair is the same
    payment (address, token, amount); otherwise nothing pairs, and the logs are taken by key."""
    if not stored or len(found) != len(stored):
        return []
    block_hash = found[0].block_hash
    if any(deposit.block_hash == block_hash for deposit in stored):
        return []  # a rescan of the block the deposits are recorded in
    found = sorted(found, key=lambda log: log.log_index)
    stored = sorted(stored, key=lambda deposit: deposit.log_index)
    pairs = list(zip(stored, found, strict=True))
    if any((deposit.deposit_address.address.lower(), deposit.token_id, deposit.amount)
           != (log.to_address.lower(), log.token.pk, log.amount) for deposit, log in pairs):
        return []
    return pairs


def _log_indices_move(*, pairs: list[tuple[Deposit, TransferLog]]) -> None:
    """Give each deposit its log's index in the new block, one row at a time in an order that
    never puts two rows of the transaction on one index (the unique key is checked per row):
    the pairing keeps the logs' order, so a move whose target is still held waits until the
    row holding it has moved on."""
    held = {deposit.log_index: deposit for deposit, _ in pairs}
    waiting = [(deposit, log) for deposit, log in pairs if deposit.log_index != log.log_index]
    while waiting:
        movable = [(deposit, log) for deposit, log in waiting
                   if log.log_index not in held or held[log.log_index] is deposit]
        if not movable:  # cannot happen for order-keeping pairs; refuse rather than guess
            raise RuntimeError("log indices of a re-included transaction cannot be moved")
        for deposit, log in movable:
            del held[deposit.log_index]
            Deposit.objects.filter(pk=deposit.pk).update(log_index=log.log_index)
            deposit.log_index = log.log_index
            held[log.log_index] = deposit
            waiting.remove((deposit, log))


def deposits_record(*, locked: Chain, found: list[tuple[TransferLog, DepositAddress, str]],
                    ) -> Recorded:
    """Record the deposits of one range: (transfer, its deposit address, its flag) in log order.
    Caller holds the lock of the chain row ``locked`` inside a transaction.

    The range's transactions that already have deposits (a rescan after a crash, or a
    transaction mined again after a reorg) are locked in one query and handled one by one,
    being few; the new logs then take one statement whatever their number.
    """
    pending: dict[tuple[str, int], tuple[TransferLog, Deposit]] = {}
    for transfer, deposit_address, flag in found:
        key = (transfer.tx_hash, transfer.log_index)
        if key in pending:
            continue  # a node that repeats a log in one answer
        pending[key] = (transfer, Deposit(
            chain=locked, token=transfer.token, deposit_address=deposit_address,
            tx_hash=transfer.tx_hash, log_index=transfer.log_index,
            block_number=transfer.block_number, block_hash=transfer.block_hash,
            block_time=chain_time(transfer.block_timestamp),
            from_address=transfer.from_address, amount=transfer.amount,
            status=Deposit.Status.SEEN, flag=flag,
        ))
    recorded = Recorded()
    if not pending:
        return recorded
    stored_by_tx: dict[str, list[Deposit]] = {}
    for deposit in Deposit.objects.select_for_update(of=("self",)).select_related(
            "deposit_address").filter(chain=locked, tx_hash__in={tx for tx, _ in pending}):
        stored_by_tx.setdefault(deposit.tx_hash, []).append(deposit)
    seen_again: list[tuple[Deposit, TransferLog]] = []
    logs_by_tx: dict[str, list[TransferLog]] = {}
    for (tx_hash, _), (transfer, _) in pending.items():
        if tx_hash in stored_by_tx:
            logs_by_tx.setdefault(tx_hash, []).append(transfer)
    for tx_hash, stored in stored_by_tx.items():
        logs = logs_by_tx.get(tx_hash, [])
        pairs = _moved_logs(found=logs, stored=stored)
        if pairs:
            _log_indices_move(pairs=pairs)
        else:
            by_index = {deposit.log_index: deposit for deposit in stored}
            pairs = [(by_index[log.log_index], log) for log in logs if log.log_index in by_index]
        seen_again.extend(pairs)
        for _, log in pairs:
            del pending[(log.tx_hash, log.log_index)]
    inserted = _deposits_insert(deposits=[deposit for _, deposit in pending.values()]) \
        if pending else set()
    for key, (transfer, deposit) in pending.items():
        if key in inserted:
            logger.info("deposit seen on %s: tx %s log %s block %s%s", locked.caip2,
                        transfer.tx_hash, transfer.log_index, transfer.block_number,
                        f" (flagged {deposit.flag})" if deposit.flag else "")
            recorded.new.append(deposit)
    for deposit, transfer in seen_again:
        _deposit_seen_again(locked=locked, deposit=deposit, transfer=transfer,
                            recorded=recorded)
    return recorded
