"""The transfer state machine: every state, every allowed transition, in one place.

``TRANSITIONS`` is the only source of truth; ``gateway.transfers.services.machine.transfer_step``
is the only code that changes ``Transfer.state`` and it refuses anything not listed here. The
steps that move a transfer on are the table ``gateway.transfers.services.driver.STEPS``.
The status a sender sees (SEP-31 vocabulary) is coarser and derived by ``SENDER_STATUS``.
"""

from typing import NamedTuple

from django.db import models


class TransferState(models.TextChoices):
    AWAITING_DEPOSIT = "awaiting_deposit", "Awaiting deposit: address issued, nothing received"
    DEPOSIT_SEEN = "deposit_seen", "Deposit seen on chain, waiting for finality"
    FUNDED = "funded", "Deposit final and credited; compliance decision pending"
    ON_HOLD = "on_hold", "Held for an operator (compliance case or conversion problem)"
    APPROVED = "approved", "Compliance approved; conversion not started"
    CONVERTING = "converting", "Conversion order recorded and being executed on a venue"
    PAYOUT_PENDING = "payout_pending", "Payout attempt recorded and sent to the rail"
    PAYOUT_REVIEW = "payout_review", (
        "Payout still unsettled at the provider past the rail's bound; an operator checks")
    COMPLETED = "completed", "Recipient paid (final)"
    PAYOUT_FAILED = "payout_failed", "Payout failed definitively; recipient fix or refund needed"
    REJECTED = "rejected", "Compliance rejected; funds must be returned"
    REFUND_PENDING = "refund_pending", "Refund to the sender being sent"
    REFUNDED = "refunded", "Funds returned to the sender (final)"
    EXPIRED = "expired", "No deposit within the deposit window (final)"
    CANCELLED = "cancelled", "Cancelled before money moved, or its funding left the chain (final)"


TRANSITIONS: dict[str, frozenset[str]] = {
    TransferState.AWAITING_DEPOSIT: frozenset({
        TransferState.DEPOSIT_SEEN, TransferState.EXPIRED, TransferState.CANCELLED}),
    TransferState.DEPOSIT_SEEN: frozenset({
        TransferState.FUNDED, TransferState.AWAITING_DEPOSIT, TransferState.ON_HOLD}),
    TransferState.FUNDED: frozenset({
        TransferState.APPROVED, TransferState.ON_HOLD, TransferState.REJECTED}),
    # Leaving a hold: approved (every hold cleared), rejected (compliance), funded (an underpaid
    # transfer accepted at a re-quoted amount), refund_pending (an underpayment returned) or
    # cancelled (the funding left the chain in a deep reorg).
    TransferState.ON_HOLD: frozenset({
        TransferState.APPROVED, TransferState.REJECTED, TransferState.FUNDED,
        TransferState.REFUND_PENDING, TransferState.CANCELLED}),
    TransferState.APPROVED: frozenset({TransferState.CONVERTING, TransferState.ON_HOLD}),
    # payout_failed straight from converting: the recipient proved unpayable once converted.
    TransferState.CONVERTING: frozenset({
        TransferState.PAYOUT_PENDING, TransferState.ON_HOLD, TransferState.PAYOUT_FAILED}),
    # payout_review: the provider still says pending (or cannot say) past the rail's bound.
    TransferState.PAYOUT_PENDING: frozenset({
        TransferState.COMPLETED, TransferState.PAYOUT_FAILED, TransferState.PAYOUT_REVIEW}),
    # Left by the provider's own verdict (its status queries go on) or an operator's, never by
    # sending again: a retry or refund needs the provider to have said "not paid" first.
    TransferState.PAYOUT_REVIEW: frozenset({
        TransferState.COMPLETED, TransferState.PAYOUT_FAILED}),
    TransferState.PAYOUT_FAILED: frozenset({
        TransferState.PAYOUT_PENDING, TransferState.REFUND_PENDING}),
    TransferState.REJECTED: frozenset({TransferState.REFUND_PENDING}),
    TransferState.REFUND_PENDING: frozenset({TransferState.REFUNDED}),
    TransferState.COMPLETED: frozenset(),
    TransferState.REFUNDED: frozenset(),
    TransferState.EXPIRED: frozenset(),
    TransferState.CANCELLED: frozenset(),
}

FINAL_STATES = frozenset(state for state, targets in TRANSITIONS.items() if not targets)

# The fields a move into a state may set besides the state itself (checked by the one writer,
# ``gateway.transfers.services.machine``); leaving a hold clears ``holds`` and ``hold_reason``
# by itself.
FIELDS_SET_ON_ENTRY: dict[str, frozenset[str]] = {
    # The credited amount; an underpayment accepted at a new quote takes that quote's amounts.
    TransferState.FUNDED: frozenset({"amount_received_base_units", "quote", "amount_in",
                                     "amount_in_base_units", "amount_fee", "amount_out",
                                     "rate"}),
    TransferState.ON_HOLD: frozenset({"holds", "hold_reason", "compliance_decision"}),
    TransferState.APPROVED: frozenset({"compliance_decision"}),
    TransferState.REJECTED: frozenset({"compliance_decision"}),
    # An underpayment returned: what was credited for its refund.
    TransferState.REFUND_PENDING: frozenset({"amount_received_base_units"}),
    # A payout started again after a correction: the corrected recipient and payout method.
    TransferState.PAYOUT_PENDING: frozenset({"recipient", "payout_method",
                                             "recipient_phone_index", "recipient_name_index",
                                             "sender_name_index"}),
}



class Action(NamedTuple):
    """A named way out of a waiting state: who takes it, the service that does, where it leads."""

    actor: str  # "sender" (API), "operator" (admin), "agent" (counter), "deadline" (on time)
    service: str  # dotted path of the service function
    to_states: frozenset[str]


_SERVICES = "gateway.transfers.services"

# For each state the driver's step does not move on by itself (or not always), the actions that
# do. The driver's steps are ``gateway.transfers.services.driver.STEPS``; a test walks both
# tables and proves that no reachable state is left without a way out.
ACTIONS: dict[str, tuple[Action, ...]] = {
    TransferState.AWAITING_DEPOSIT: (
        Action("sender", f"{_SERVICES}.cancel.transfer_cancel",
               frozenset({TransferState.CANCELLED})),
    ),
    TransferState.ON_HOLD: (
        Action("operator", f"{_SERVICES}.actions.operator_decide",
               frozenset({TransferState.APPROVED, TransferState.REJECTED})),
        Action("operator", f"{_SERVICES}.conversion.transfer_release_hold",
               frozenset({TransferState.APPROVED})),
        Action("operator", f"{_SERVICES}.actions.transfer_held_refund",
               frozenset({TransferState.REFUND_PENDING})),
        Action("operator", f"{_SERVICES}.actions.transfer_underpaid_refund",
               frozenset({TransferState.REFUND_PENDING})),
        Action("operator", f"{_SERVICES}.actions.transfer_underpaid_accept",
               frozenset({TransferState.FUNDED})),
        Action("operator", f"{_SERVICES}.actions.transfer_reorg_clear",
               frozenset({TransferState.APPROVED})),
        Action("operator", f"{_SERVICES}.actions.transfer_funding_lost",
               frozenset({TransferState.CANCELLED})),
    ),
    # Cash pickup waits for the agent, or for the pickup window to end;
    # a mobile-money payout the provider never settles is settled by hand once checked.
    TransferState.PAYOUT_PENDING: (
        Action("operator", f"{_SERVICES}.actions.transfer_payout_settle",
               frozenset({TransferState.COMPLETED, TransferState.PAYOUT_FAILED})),
        Action("agent", "ramps.payouts.agents.services.redemption_confirm",
               frozenset({TransferState.COMPLETED})),
        Action("deadline", "ramps.payouts.agents.services.redemption_uncollected_handle",
               frozenset({TransferState.PAYOUT_FAILED})),
    ),
    # The driver keeps asking the provider; an operator settles by hand once checked, or asks
    # for a retry or refund, which is taken only once the provider reports nothing paid.
    TransferState.PAYOUT_REVIEW: (
        Action("operator", f"{_SERVICES}.actions.transfer_payout_settle",
               frozenset({TransferState.COMPLETED, TransferState.PAYOUT_FAILED})),
        Action("operator", f"{_SERVICES}.payouts.transfer_payout_retry",
               frozenset({TransferState.PAYOUT_FAILED})),
        Action("operator", f"{_SERVICES}.actions.transfer_payout_refund",
               frozenset({TransferState.PAYOUT_FAILED})),
    ),
    TransferState.PAYOUT_FAILED: (
        Action("sender", f"{_SERVICES}.payouts.transfer_payout_correct",
               frozenset({TransferState.PAYOUT_PENDING})),
        Action("operator", f"{_SERVICES}.payouts.transfer_payout_retry",
               frozenset({TransferState.PAYOUT_PENDING})),
        Action("operator", f"{_SERVICES}.actions.transfer_payout_refund",
               frozenset({TransferState.REFUND_PENDING})),
        Action("deadline", f"{_SERVICES}.actions.transfer_payout_failed_review",
               frozenset({TransferState.REFUND_PENDING})),
    ),
}

# Which action clears which reason for a hold (several can stand at once).
HOLD_ACTIONS: dict[str, tuple[str, ...]] = {
    "compliance": (f"{_SERVICES}.actions.operator_decide",),
    "float": (f"{_SERVICES}.conversion.transfer_release_hold",
              f"{_SERVICES}.screening.transfer_hold_review"),
    "conversion": (f"{_SERVICES}.conversion.transfer_release_hold",
                   f"{_SERVICES}.actions.transfer_held_refund"),
    "underpaid": (f"{_SERVICES}.actions.transfer_underpaid_refund",
                  f"{_SERVICES}.actions.transfer_underpaid_accept"),
    "reorg": (f"{_SERVICES}.actions.transfer_reorg_clear",
              f"{_SERVICES}.actions.transfer_funding_lost"),
}

# States in which the gateway itself must act next (the re-drive task looks at these).
ACTIVE_STATES = frozenset({TransferState.FUNDED, TransferState.APPROVED, TransferState.CONVERTING,
                           TransferState.PAYOUT_PENDING, TransferState.PAYOUT_REVIEW})


class SenderStatus(models.TextChoices):
    """Stellar SEP-31 statuses, as wallets and anchors know them."""

    PENDING_SENDER = "pending_sender"
    PENDING_RECEIVER = "pending_receiver"
    PENDING_EXTERNAL = "pending_external"
    PENDING_CUSTOMER_INFO_UPDATE = "pending_customer_info_update"
    PENDING_TRANSACTION_INFO_UPDATE = "pending_transaction_info_update"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    ERROR = "error"


SENDER_STATUS: dict[str, str] = {
    TransferState.AWAITING_DEPOSIT: SenderStatus.PENDING_SENDER,
    TransferState.DEPOSIT_SEEN: SenderStatus.PENDING_SENDER,
    TransferState.FUNDED: SenderStatus.PENDING_RECEIVER,
    TransferState.ON_HOLD: SenderStatus.ON_HOLD,
    TransferState.APPROVED: SenderStatus.PENDING_RECEIVER,
    TransferState.CONVERTING: SenderStatus.PENDING_RECEIVER,
    TransferState.PAYOUT_PENDING: SenderStatus.PENDING_EXTERNAL,
    # Nothing for the sender to do: held while an operator checks with the provider.
    TransferState.PAYOUT_REVIEW: SenderStatus.ON_HOLD,
    TransferState.COMPLETED: SenderStatus.COMPLETED,
    TransferState.PAYOUT_FAILED: SenderStatus.PENDING_TRANSACTION_INFO_UPDATE,
    TransferState.REJECTED: SenderStatus.ERROR,
    TransferState.REFUND_PENDING: SenderStatus.PENDING_EXTERNAL,
    TransferState.REFUNDED: SenderStatus.REFUNDED,
    TransferState.EXPIRED: SenderStatus.EXPIRED,
    # SEP-31 has no cancel operation and no "cancelled" status. A cancelled transfer is, for a
    # wallet, what an expired one is: final, never funded, nothing to pay or refund. The finer
    # ``state`` ("cancelled") tells the two apart.
    TransferState.CANCELLED: SenderStatus.EXPIRED,
}

assert set(TRANSITIONS) == set(TransferState.values) == set(SENDER_STATUS)


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())
