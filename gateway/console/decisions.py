"""Deciding a held transfer from the console always goes through its compliance case
(maker-checker): the first operator proposes, a second one confirms, and only the confirmation
records the superseding decision and moves the transfer."""

from gateway.transfers.services.actions import transfer_case_decide


def held_transfer_decide(*, transfer_id: int, operator, outcome: str, note: str,
                         label: str = "") -> str:
    """Propose ``outcome`` on the transfer's case, or confirm it when another operator proposed
    the same outcome (``transfer_case_decide``). Returns what happened, for the operator."""
    return transfer_case_decide(transfer_id=transfer_id, operator=operator, outcome=outcome,
                                note=note, label=label).message
