"""Cancelling a transfer before it is funded (the sender changed their mind)."""

import logging

from gateway.common.problems import ConflictError
from gateway.transfers.models import Transfer
from gateway.transfers.services.machine import Move, transfer_step
from gateway.transfers.states import TransferState
from ramps.chain.selectors import deposit_first_live

logger = logging.getLogger(__name__)


class TransferNotCancellableError(ConflictError):
    slug = "transfer-not-cancellable"
    title = "The transfer can no longer be cancelled"


def transfer_cancel(*, transfer_id: int, actor: str, reason: str = "") -> Transfer:
    """Cancel a transfer that is still waiting for its deposit; its address closes with it.

    Allowed only while no deposit was seen on chain: once funds were seen (even before the
    transfer's own state caught up with the watcher), the transfer runs its course or is
    refunded, and this raises ``TransferNotCancellableError`` without changing anything.
    Cancelling a cancelled transfer returns it unchanged (a retried request is harmless).
    A deposit that reaches the closed address later is recorded and flagged ``address_closed``
    by the chain watcher, never credited: a late deposit for refund.
    """

    def cancel(transfer: Transfer) -> Move | None:
        if transfer.state == TransferState.CANCELLED:
            return None
        if transfer.state == TransferState.DEPOSIT_SEEN:
            # Still pending_sender, so the general answer below would read as a contradiction
            # to a sender who paid part of the amount: say what happens to the money instead.
            raise TransferNotCancellableError(
                f"A deposit to transfer {transfer.public_id} was seen on chain; it can no "
                "longer be cancelled. Once final, deposits that cover the amount are paid out; "
                "deposits short of it wait for the rest until "
                f"{transfer.deposit_expires_at.isoformat()}, then what arrived is refunded or "
                "paid out at a new quote, as an operator decides.",
                extra={"transfer_status": transfer.sender_status, "transfer_state": transfer.state,
                       "deposit_expires_at": transfer.deposit_expires_at.isoformat()},
            )
        if transfer.state != TransferState.AWAITING_DEPOSIT:
            raise TransferNotCancellableError(
                f"Transfer {transfer.public_id} is {transfer.sender_status} ({transfer.state}); "
                "only a transfer still waiting for its deposit can be cancelled.",
                extra={"transfer_status": transfer.sender_status, "transfer_state": transfer.state},
            )
        seen = deposit_first_live(deposit_address=transfer.deposit_address_id)
        if seen is not None:
            raise TransferNotCancellableError(
                f"A deposit to transfer {transfer.public_id}'s address was seen on chain "
                f"(transaction {seen.tx_hash}); it can no longer be cancelled.",
                extra={"transfer_status": transfer.sender_status, "transfer_state": transfer.state},
            )
        cancelled.append(True)
        return Move(to_state=TransferState.CANCELLED, actor=actor,
                    reason=reason or "cancelled by the sender")

    cancelled: list[bool] = []
    transfer = transfer_step(transfer_id=transfer_id, apply=cancel)
    if cancelled:
        logger.info("transfer %s cancelled by %s", transfer.public_id, actor)
    return transfer
