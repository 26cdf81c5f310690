"""Deposits: the steps of ``awaiting_deposit`` and ``deposit_seen`` (seen, reorged away, credited
once final with the payout's float reserved, underpaid, expired)."""

import logging
from decimal import Decimal

from gateway.common.money import (
    from_base_units,
    money_round,
)
from gateway.ledger.models import LedgerAccount
from gateway.ledger.services import (
    credit,
    debit,
)
from gateway.transfers.models import HoldKind, Transfer
from gateway.transfers.services.holds import transfer_hold
from gateway.transfers.services.machine import (
    FLOAT_RESERVE,
    Entry,
    Move,
    transfer_step,
    transfer_transition,
)
from gateway.transfers.states import TransferState
from ramps.chain.crediting import deposit_mark_credited
from ramps.chain.models import Deposit
from ramps.chain.selectors import chain_cursor_time, deposit_get, deposits_for_address

logger = logging.getLogger(__name__)


# --- deposits -------------------------------------------------------------------------------


def transfer_for_deposit_address(*, deposit_address_id: int) -> Transfer | None:
    return Transfer.objects.filter(deposit_address_id=deposit_address_id).first()


def transfer_deposit_progress(*, transfer_id: int) -> Transfer:
    """Reflect the chain's facts about the transfer's deposit address in its state.

    Seen (unconfirmed) deposits -> ``deposit_seen``; all of them reorged away -> back to
    ``awaiting_deposit``; confirmed deposits covering the amount -> credit them and ``funded``.
    An underpayment keeps waiting (more deposits may follow) until the deposit window ends.
    """
    transfer = Transfer.objects.select_related("corridor__token").get(pk=transfer_id)
    if transfer.state not in (TransferState.AWAITING_DEPOSIT, TransferState.DEPOSIT_SEEN):
        return transfer
    deposits = list(deposits_for_address(deposit_address=transfer.deposit_address))
    token = transfer.corridor.token
    # A flagged deposit (to a closed address, or of a token the gateway does not accept) is
    # never credited automatically: an operator refunds or attaches it.
    # A deposit stamped (chain time) after the window is late, however early it was seen: it
    # is refunded, never credited (``deposit_is_late``).
    live = [d for d in deposits if d.status != Deposit.Status.REORGED
            and d.token_id == token.pk and not d.flag
            and not deposit_after_window(deposit=d, transfer=transfer)]
    confirmed = [d for d in live if d.status == Deposit.Status.CONFIRMED]
    confirmed_total = sum((d.amount for d in confirmed), 0)
    if confirmed and confirmed_total >= transfer.amount_in_base_units:
        if transfer.state == TransferState.AWAITING_DEPOSIT:
            transfer = transfer_transition(
                transfer_id=transfer.pk, to_state=TransferState.DEPOSIT_SEEN, reason="deposit seen",
                expect_from=frozenset({TransferState.AWAITING_DEPOSIT}),
            )
        transfer = transfer_fund(transfer_id=transfer.pk, deposits=confirmed)
        if transfer.amount_received_base_units > transfer.amount_in_base_units:
            # The surplus goes back now; if this is lost (a crash), the chain poll's refund
            # drive finds the funded transfer without its overpayment refund. (Imported here:
            # refunds build on this module.)
            from gateway.transfers.services.refunds import transfer_overpayment_refund_start

            transfer_overpayment_refund_start(transfer_id=transfer.pk)
        return transfer
    if live and transfer.state == TransferState.AWAITING_DEPOSIT:
        return transfer_transition(
            transfer_id=transfer.pk, to_state=TransferState.DEPOSIT_SEEN,
            reason="deposit seen on chain",
            data={"tx_hashes": sorted({d.tx_hash for d in live})},
            expect_from=frozenset({TransferState.AWAITING_DEPOSIT}),
        )
    if not live and transfer.state == TransferState.DEPOSIT_SEEN:
        return transfer_transition(
            transfer_id=transfer.pk, to_state=TransferState.AWAITING_DEPOSIT,
            reason="deposit removed by a chain reorganisation",
            expect_from=frozenset({TransferState.DEPOSIT_SEEN}),
        )
    # Chain time, not this server's: the window has ended on the chain once the watcher has
    # scanned a block stamped after it. A lagging watcher therefore delays expiry instead of
    # expiring a transfer whose deposit sits in a block it has not reached yet.
    window_over = deposit_window_ended(transfer=transfer)
    if (live and transfer.state == TransferState.DEPOSIT_SEEN and window_over
            and len(confirmed) == len(live)):
        received = money_round(from_base_units(confirmed_total, token.decimals), token.symbol)
        expected = money_round(transfer.amount_in, token.symbol)
        return transfer_hold(
            transfer_id=transfer.pk, kind=HoldKind.UNDERPAID, actor="chain",
            reason=f"underpaid: {received} of {expected} {token.symbol} received "
                   f"when the deposit window ended",
            label="underpaid", expect_from=frozenset({TransferState.DEPOSIT_SEEN}),
        )
    if not live and transfer.state == TransferState.AWAITING_DEPOSIT and window_over:
        return transfer_transition(transfer_id=transfer.pk, to_state=TransferState.EXPIRED,
                                   reason="no deposit within the deposit window",
                                   expect_from=frozenset({TransferState.AWAITING_DEPOSIT}))
    return transfer


def deposit_after_window(*, deposit: Deposit, transfer: Transfer) -> bool:
    """Whether the deposit's block is stamped after the transfer's deposit window (chain time;
    a deposit whose block time is unknown is judged in time)."""
    return deposit.block_time is not None and deposit.block_time > transfer.deposit_expires_at


def deposit_window_ended(*, transfer: Transfer) -> bool:
    """Whether the watcher has scanned past the end of the transfer's deposit window: its
    cursor block's timestamp (chain time) is later than ``deposit_expires_at``. Every deposit
    in a block up to the window's end has then been recorded."""
    cursor_time = chain_cursor_time(chain_id=transfer.corridor.token.chain_id)
    return cursor_time is not None and cursor_time > transfer.deposit_expires_at


def transfer_fund(*, transfer_id: int, deposits: list[Deposit]) -> Transfer:
    """Credit confirmed deposits and move the transfer to ``funded`` (one transaction), with
    the funding entry and the payout's float reserved if the float allows."""
    transfer = Transfer.objects.select_related("corridor__token__chain").get(pk=transfer_id)
    token = transfer.corridor.token
    symbol = token.symbol
    total_units = sum(d.amount for d in deposits)
    received = money_round(from_base_units(total_units, token.decimals), symbol)
    surplus = received - transfer.amount_in
    custody = f"assets:custody:{token.chain.caip2}"
    legs = [
        debit(custody, symbol, received, kind=LedgerAccount.Kind.ASSET),
        credit(f"liabilities:transfers:{symbol}", symbol, transfer.amount_in,
               kind=LedgerAccount.Kind.LIABILITY),
    ]
    if surplus > 0:
        legs.append(credit("liabilities:overpayments", symbol, surplus,
                           kind=LedgerAccount.Kind.LIABILITY))

    def credit_deposits(locked: Transfer) -> Move:
        # Under the transfer's lock: a worker that lost the race sees it funded and leaves
        # before it touches any deposit.
        for deposit in deposits:
            deposit_mark_credited(deposit=deposit_get(deposit_id=deposit.pk, lock=True))
        return Move(
            to_state=TransferState.FUNDED, reason="deposit final and credited",
            data={"received": str(received), "surplus": str(max(surplus, Decimal(0))),
                  "deposits": [f"{d.tx_hash}:{d.log_index}" for d in deposits]},
            changes={"amount_received_base_units": total_units},
            entry=Entry(event="funding", description=f"Deposit for transfer {transfer.public_id}",
                        legs=tuple(legs)),
            float_operation=FLOAT_RESERVE,
        )

    return transfer_step(transfer_id=transfer.pk, apply=credit_deposits, lost_race="return",
                         expect_from=frozenset({TransferState.DEPOSIT_SEEN}))
