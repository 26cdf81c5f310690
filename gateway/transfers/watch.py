"""Glue between the chain watcher (ramps.chain) and transfers: which transfers a scan touched."""

import logging

from gateway.common.problems import InvalidTransitionError
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.holds import holds_standing, transfer_hold
from gateway.transfers.services.refunds import refunds_drive
from gateway.transfers.states import TransferState
from ramps.chain.selectors import chain_get_active, deposits_confirmed_uncredited
from ramps.chain.watcher import chain_scan

logger = logging.getLogger(__name__)


def chain_poll(*, chain_id: int) -> list[int]:
    """Scan one chain and return the ids of transfers whose deposits changed or are confirmed
    and not yet credited. ``chain_scan`` commits range by range and is safe to run from two
    workers at once (unique keys decide), so no lock is held across its RPC calls."""
    chain = chain_get_active(chain_id=chain_id)
    if chain is None:
        return []
    result = chain_scan(chain=chain)
    address_ids = {d.deposit_address_id for d in result.new_deposits}
    address_ids |= {d.deposit_address_id for d in result.confirmed_deposits}
    address_ids |= {d.deposit_address_id for d in result.reorged_deposits}
    address_ids |= {d.deposit_address_id for d in deposits_confirmed_uncredited(chain=chain)}
    if result.error:
        logger.warning("chain %s scan error: %s", chain.caip2, result.error)
    for deposit in result.deep_reorged_deposits:
        transfer_hold_for_deep_reorg(deposit_address_id=deposit.deposit_address_id,
                                     tx_hash=deposit.tx_hash,
                                     credited=deposit.credited_at is not None)
    # Late deposits and overpayments are refunded on the same path as rejected transfers.
    refunds_drive(chain=chain)
    # Only a transfer still waiting for its deposit acts on deposit facts; one held as underpaid
    # (its deposits confirmed, never credited) is not touched again on every scan.
    return list(Transfer.objects.filter(
        deposit_address_id__in=address_ids,
        state__in=(TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN),
    ).values_list("pk", flat=True))


def transfer_hold_for_deep_reorg(*, deposit_address_id: int, tx_hash: str,
                                 credited: bool = True) -> None:
    """A final deposit left the chain (the watcher made it ``reorged`` and opened an incident).

    Credited, or the deposits of an underpaid transfer on hold: stop the transfer where it can
    still be stopped and make it loud (transfers already paid out need an operator: logged as
    an error). Not credited otherwise: nothing rests on it. A transfer still taking deposits
    goes back to waiting through its deposit step (the scan lists the deposit as reorged), and
    a late deposit that left the chain is never refunded."""
    transfer = Transfer.objects.filter(deposit_address_id=deposit_address_id).first()
    if not credited and (transfer is None or HoldKind.UNDERPAID not in holds_standing(transfer)):
        logger.warning("deep reorg removed uncredited deposit %s (transfer %s)", tx_hash,
                       transfer.public_id if transfer else "none")
        return
    logger.error("deep reorg removed %s deposit %s (transfer %s)",
                 "credited" if credited else "underpaid", tx_hash,
                 transfer.public_id if transfer else "none")
    if transfer is None:
        return
    try:
        # Stacks on any hold already standing: approving a compliance case or releasing a float
        # hold no longer frees it; only the reorg actions do.
        transfer_hold(transfer_id=transfer.pk, kind=HoldKind.REORG, actor="chain",
                      reason=f"{'credited' if credited else 'underpaid'} deposit {tx_hash} "
                             "reorged away",
                      label="deep chain reorganisation")
    except InvalidTransitionError:
        logger.error("transfer %s is %s and cannot be held automatically after a deep reorg",
                     transfer.public_id, transfer.state)
