"""Quotes, transfers and the steps that move a transfer through its state machine.

``transfer_transition`` is the only function that changes ``Transfer.state``. Each call is one
database transaction that locks the transfer row, checks the transition against
``gateway.transfers.states.TRANSITIONS``, saves the new state, writes the history row, the ledger
entry of the step (if any) and the webhook outbox rows. The step functions of this package call
it and the ramps/compliance services; each is idempotent, so a re-driven task can call it again
safely.
"""

from gateway.transfers.services.conversion import (
    FLOAT_HOLD_REASON,
    transfer_convert_execute,
    transfer_convert_settle,
    transfer_convert_start,
    transfer_release_hold,
)
from gateway.transfers.services.creation import (
    USD_STABLECOINS,
    PartyInput,
    amount_usd_equivalent,
    party_reference,
    transfer_create,
    transfer_monitoring_subject,
    travel_rule_payload,
)
from gateway.transfers.services.deposits import (
    deposit_window_ended,
    transfer_deposit_progress,
    transfer_float_release_if_reserved,
    transfer_float_reserve_at_funding,
    transfer_for_deposit_address,
    transfer_fund,
)
from gateway.transfers.services.driver import (
    operator_decide,
    transfer_advance,
    transfer_hold_review,
    transfers_stuck,
)
from gateway.transfers.services.machine import (
    transfer_advance_enqueue,
    transfer_status_payload,
    transfer_transition,
)
from gateway.transfers.services.payouts import (
    payout_callback_urls,
    transfer_live_attempt,
    transfer_payout_drive,
    transfer_payout_outcome,
)
from gateway.transfers.services.quotes import (
    InvalidAmountError,
    InvalidRecipientError,
    PayoutAboveMaximumError,
    PayoutBelowMinimumError,
    Pricing,
    QuoteExpiredError,
    QuoteUnavailableError,
    QuoteUsedError,
    UnknownCorridorError,
    corridor_resolve,
    payout_limits_check,
    pricing_for,
    quote_create,
    recipient_phone_validate,
)
from gateway.transfers.services.refunds import (
    deposit_is_late,
    late_deposits_refund_start,
    overpayment_reference_prefix,
    refund_reference_prefix,
    refunds_drive,
    refunds_settle,
    transfer_overpayment_refund_start,
    transfer_refund_destination,
    transfer_refund_progress,
    transfer_refund_start,
)
from gateway.transfers.services.screening import (
    decision_with_monitoring,
    transfer_apply_decision,
    transfer_screen,
)

__all__ = [
    "FLOAT_HOLD_REASON",
    "USD_STABLECOINS",
    "InvalidAmountError",
    "InvalidRecipientError",
    "PartyInput",
    "PayoutAboveMaximumError",
    "PayoutBelowMinimumError",
    "Pricing",
    "QuoteExpiredError",
    "QuoteUnavailableError",
    "QuoteUsedError",
    "UnknownCorridorError",
    "amount_usd_equivalent",
    "corridor_resolve",
    "decision_with_monitoring",
    "deposit_is_late",
    "deposit_window_ended",
    "late_deposits_refund_start",
    "operator_decide",
    "overpayment_reference_prefix",
    "party_reference",
    "payout_callback_urls",
    "payout_limits_check",
    "pricing_for",
    "quote_create",
    "recipient_phone_validate",
    "refund_reference_prefix",
    "refunds_drive",
    "refunds_settle",
    "transfer_advance",
    "transfer_advance_enqueue",
    "transfer_apply_decision",
    "transfer_convert_execute",
    "transfer_convert_settle",
    "transfer_convert_start",
    "transfer_create",
    "transfer_deposit_progress",
    "transfer_float_release_if_reserved",
    "transfer_float_reserve_at_funding",
    "transfer_for_deposit_address",
    "transfer_fund",
    "transfer_hold_review",
    "transfer_live_attempt",
    "transfer_monitoring_subject",
    "transfer_overpayment_refund_start",
    "transfer_payout_drive",
    "transfer_payout_outcome",
    "transfer_refund_destination",
    "transfer_refund_progress",
    "transfer_refund_start",
    "transfer_release_hold",
    "transfer_screen",
    "transfer_status_payload",
    "transfer_transition",
    "transfers_stuck",
    "travel_rule_payload",
]
