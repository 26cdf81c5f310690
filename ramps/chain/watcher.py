"""The log watcher: scanning ranges for deposits, confirmations, reorgs.

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
  finality setting. It becomes ``reorged`` like any other (so that nothing credits or refunds
  it while it is off the chain; ``credited_at`` stays when it was credited), and it is reported
  in ``ScanResult.deep_reorged_deposits``, logged as an error, stored in ``last_error`` and
  recorded as a ``ChainIncident``, so that the gateway stops what rests on it and an operator
  resolves it; never silently. Mined again, it is ``seen`` in its new block and confirmed again
  as usual, which is what lets the gateway's reorg hold be cleared.

All writes of the watcher lock the chain row first, so two scans of one chain never interleave
their writes, and ``deposit_address_allocate`` (which locks it too) never races a scan's
address lookup.
"""

import logging
from dataclasses import dataclass, field, replace

from django.db import transaction
from django.utils import timezone

from ramps.chain.client import RPC_ERRORS, ChainClient, RangeRefusedError
from ramps.chain.deposits import (
    TransferLog,
    chain_time,
    deposit_flag,
    deposits_record,
    transfer_log_parse,
)
from ramps.chain.incidents import chain_incident_open_deep_reorg
from ramps.chain.models import Chain, ChainBlock, ChainIncident, Deposit, DepositAddress, Token
from ramps.chain.validators import to_checksum_address
from ramps.chain.watchlist import address_watchlist

logger = logging.getLogger(__name__)

# Stored block hashes older than this many blocks behind the cursor are pruned. They only serve
# to find a fork point, and no reorg the gateway can repair is that deep.
MIN_BLOCK_RETENTION = 256
# Consecutive answered ranges before the range doubles again towards ``max_log_range``.
_GROW_AFTER = 2
# Refusals in one pass before the pass gives up and reports the node as failing.
_MAX_SHRINKS_PER_PASS = 24


@dataclass
class ScanResult:
    """What one pass of ``chain_scan`` did."""

    chain_caip2: str
    new_deposits: list[Deposit] = field(default_factory=list)
    """Deposits first seen in this pass, or seen again in a new block after a reorg."""
    confirmed_deposits: list[Deposit] = field(default_factory=list)
    reorged_deposits: list[Deposit] = field(default_factory=list)
    """Deposits whose block left the chain in this pass, now ``reorged``."""
    deep_reorged_deposits: list[Deposit] = field(default_factory=list)
    """Those of them that were confirmed (final), credited or not: an incident each, see the
    module docstring. A deposit found in another block than the one it was confirmed in is
    here too (and in ``new_deposits``, seen again in its new block)."""
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


def _cursor_set(*, locked: Chain, cursor: int | None, timestamp: int | None = None) -> None:
    """Move the cursor; ``timestamp`` is the cursor block's own (None when unknown, e.g. after
    a rewind: the next scanned range sets it again)."""
    if cursor is not None and cursor < locked.start_block:
        cursor = None
    locked.cursor_block = cursor
    locked.cursor_block_time = chain_time(timestamp) if cursor is not None else None
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
    retired = list(orphaned)
    for deposit in retired:
        if deposit.status == Deposit.Status.CONFIRMED:
            _report_deep_reorg(deposit=deposit, result=result)
        deposit.status = Deposit.Status.REORGED
        deposit.updated_at = now
    if retired:
        Deposit.objects.filter(pk__in=[deposit.pk for deposit in retired]).update(
            status=Deposit.Status.REORGED, updated_at=now
        )
        result.reorged_deposits.extend(retired)
    ChainBlock.objects.filter(chain=locked, number__gt=fork_point).delete()
    _cursor_set(locked=locked, cursor=fork_point)


def _report_deep_reorg(*, deposit: Deposit, result: ScanResult) -> None:
    """A confirmed deposit whose block left the chain: listed in the result and an incident
    opened (once), inside the scan's transaction so that both commit with the rewind."""
    if deposit not in result.deep_reorged_deposits:
        result.deep_reorged_deposits.append(deposit)
    incident, created = chain_incident_open_deep_reorg(deposit=deposit)
    if created:
        result.incidents_opened.append(incident)


def _block_hash(client: ChainClient, number: int) -> str | None:
    """Hash of the node's block at ``number``, or None if the node has no such block."""
    block = client.block(number)
    return None if block is None else block[0]


def _reorg_check(*, chain: Chain, client: ChainClient, result: ScanResult) -> None:
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
        if _block_hash(client, block.number) == block.hash:
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


def _with_block_timestamps(*, client: ChainClient,
                           transfers: list[TransferLog]) -> list[TransferLog]:
    """The transfers with their block's timestamp, read (in one batch) for the blocks whose
    logs came without one."""
    missing = {transfer.block_number for transfer in transfers if transfer.block_timestamp is None}
    if not missing:
        return transfers
    blocks = client.blocks(missing)
    return [
        transfer if transfer.block_timestamp is not None else replace(
            transfer, block_timestamp=(
                blocks[transfer.block_number][1]
                if blocks.get(transfer.block_number)
                and blocks[transfer.block_number][0] == transfer.block_hash else None))
        for transfer in transfers
    ]


def _blocks_store(*, chain: Chain, hashes: dict[int, str]) -> None:
    ChainBlock.objects.bulk_create(
        [ChainBlock(chain=chain, number=number, hash=block_hash)
         for number, block_hash in sorted(hashes.items())],
        update_conflicts=True,
        unique_fields=["chain", "number"],
        update_fields=["hash", "updated_at"],
    )


def _scan_ranges(*, chain: Chain, client: ChainClient, head: int, result: ScanResult) -> None:
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
    contracts = [to_checksum_address(address) for address in tokens]
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
                logs = client.transfer_logs(start=start, end=end, contracts=contracts)
            except RangeRefusedError as exc:
                result.range_shrinks += 1
                if span == 1 or result.range_shrinks > _MAX_SHRINKS_PER_PASS:
                    raise ValueError(f"eth_getLogs refused blocks {start}-{end}: {exc}") from exc
                ceiling = max(1, span // 2)
                span = max(1, span // 2)
                answered = 0
                logger.info("eth_getLogs on %s refused %s blocks (%s); range now %s",
                            chain.caip2, end - start + 1, exc, span)
                continue
            end_block = client.block(end)
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
                             if (parsed := transfer_log_parse(log, tokens))]
                transfers = _with_block_timestamps(client=client, transfers=transfers)
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
                    flag = deposit_flag(transfer=transfer, deposit_address=deposit_address)
                    found.append((transfer, deposit_address, flag))
                recorded = deposits_record(locked=locked, found=found)
                result.new_deposits.extend(recorded.new)
                for deposit in recorded.left_the_chain:
                    _report_deep_reorg(deposit=deposit, result=result)
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


def _final_block(*, chain: Chain, client: ChainClient, head: int) -> int:
    """Highest block whose deposits are final under the chain's finality setting."""
    if chain.finality == Chain.Finality.DEPTH:
        return head - chain.confirmations + 1
    return client.block_number_at(str(chain.finality))


def _confirm(*, chain: Chain, client: ChainClient, head: int, result: ScanResult) -> None:
    """Confirm or retire the seen deposits that are deep enough."""
    deepest = _final_block(chain=chain, client=client, head=head)
    candidates = list(
        Deposit.objects.filter(chain=chain, status=Deposit.Status.SEEN,
                               block_number__lte=deepest).values_list("pk", "block_number")
    )
    if not candidates:
        return
    canonical = {number: None if block is None else block[0]
                 for number, block in client.blocks({number for _, number in candidates}).items()}
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
    client = ChainClient.for_chain(chain)
    try:
        head = client.head()
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
            _reorg_check(chain=chain, client=client, result=result)
            _scan_ranges(chain=chain, client=client, head=head, result=result)
            _confirm(chain=chain, client=client, head=head, result=result)
    except RPC_ERRORS as exc:
        result.error = client.error_text(exc)[:2000]
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

