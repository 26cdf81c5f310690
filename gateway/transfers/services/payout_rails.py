"""Which payout rail pays a transfer, called through the one ``PayoutRail`` interface.

A transfer paid as cash goes to the cash-pickup rail; any other to its rail row (the corridor's,
or the one a reroute chose). Nothing here knows how a rail pays: a new rail is a package in
``ramps/payouts`` and a row.
"""

from gateway.transfers.models import Corridor, Transfer
from ramps.payouts.rails import PayoutRail, PayoutRecorded, PayoutState
from ramps.payouts.registry import CASH_PICKUP, payout_rail


def transfer_pays_cash(transfer: Transfer) -> bool:
    method = transfer.payout_method or transfer.corridor.payout_method
    return method == Corridor.PayoutMethod.CASH_PICKUP


def transfer_payout_rail(transfer: Transfer) -> PayoutRail | None:
    """The rail that pays ``transfer``; None for a mobile-money corridor without a rail."""
    if transfer_pays_cash(transfer):
        return payout_rail(kind=CASH_PICKUP)
    rail = transfer.corridor.rail
    return payout_rail(rail) if rail is not None else None


def transfer_payout_record(*, transfer: Transfer, rail: PayoutRail,
                           instructed: bool = False) -> PayoutRecorded:
    """Record the transfer's payout on ``rail`` in the caller's transaction (nothing leaves
    before commit)."""
    return rail.payout_submit(
        owner=transfer, owner_reference=transfer.reference, amount=transfer.amount_out,
        currency=transfer.currency_out,
        recipient_msisdn=(transfer.recipient or {}).get("phone_number", ""),
        remarks=f"Remittance {str(transfer.public_id)[:8]}", instructed=instructed)


def transfer_cash_pickup(transfer: Transfer) -> PayoutState | None:
    """The transfer's cash-pickup code as the cash rail reports it, whenever it has one (also
    after a correction switched it to mobile money); None otherwise. Its ``details`` are what
    the sender sees."""
    return payout_rail(kind=CASH_PICKUP).payout_status(owner=transfer,
                                                       owner_reference=transfer.reference)
