"""How transfers react to the facts of the cash-pickup rail (``ramps.payouts.agents``).

Cash pickup records a code issued, redeemed at a counter or left uncollected; it hands each fact
to ``TransferCashPickupOwner`` (settings ``CASH_PICKUP_OWNER``), which moves the transfer and
books the ledger in the same transaction. This is the only place that knows both.
"""

import logging
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from compliance.models import ScreeningDecision
from compliance.selectors import screening_decision_latest
from gateway.common.problems import DomainError
from gateway.ledger.selectors import account_balance
from gateway.ledger.services import Leg, NegativeBalanceError, ledger_entry_post
from gateway.transfers.services.machine import (
    Entry,
    transfer_status_payload,
    transfer_transition,
)
from gateway.transfers.services.refunds import transfer_refund_record
from gateway.transfers.states import TransferState
from gateway.webhooks.services import webhook_event_enqueue
from ramps.chain.selectors import deposits_credited_off_chain
from ramps.payouts.agents.owner import (
    BLOCKER_EXPIRED,
    BLOCKER_FUNDING,
    BLOCKER_NOT_READY,
    BLOCKER_ON_HOLD,
    BLOCKER_REFUNDING,
    FloatShortError,
    Movement,
)

logger = logging.getLogger(__name__)
_REFUNDING = frozenset({TransferState.PAYOUT_FAILED, TransferState.REJECTED,
                        TransferState.REFUND_PENDING, TransferState.REFUNDED})


def _legs(movements: list[Movement]) -> list[Leg]:
    return [Leg(m.account, m.currency, m.amount, m.kind, m.floor) for m in movements]


class TransferCashPickupOwner:
    """The transfers' side of cash pickup: see ``ramps.payouts.agents.owner``."""

    def payout_blocker(self, *, owner: Any) -> str:
        state = owner.state
        if state == TransferState.PAYOUT_PENDING:
            # A list change after the code was issued records a held decision for the
            # transfer (its state cannot go back to on_hold): the cash waits for that case.
            latest = screening_decision_latest(subject_reference=owner.reference)
            if latest is not None and latest.outcome != ScreeningDecision.Outcome.APPROVE:
                return BLOCKER_ON_HOLD
            # A deep reorg took the block of a credited deposit (its state cannot go back to
            # on_hold either): no cash until the payment is final on the chain again.
            if owner.deposit_address_id is not None and deposits_credited_off_chain(
                    deposit_address_id=owner.deposit_address_id):
                return BLOCKER_FUNDING
            return ""
        if state == TransferState.ON_HOLD:
            return BLOCKER_ON_HOLD
        if state in _REFUNDING:
            return BLOCKER_REFUNDING
        if state == TransferState.EXPIRED:
            return BLOCKER_EXPIRED
        return BLOCKER_NOT_READY

    def redeemed(self, *, redemption: Any, agent: Any, actor: str, movements: list[Movement],
                 data: dict[str, str]) -> None:
        transfer = redemption.transfer
        try:
            transfer_transition(
                transfer_id=transfer.pk, to_state=TransferState.COMPLETED, actor=actor,
                reason="cash collected at agent", data=data,
                entry=Entry(event="payout", legs=tuple(_legs(movements)),
                            description=f"Cash payout of transfer {transfer.public_id} at "
                                        f"{agent}"),
                expect_from=frozenset({TransferState.PAYOUT_PENDING}),
            )
        except NegativeBalanceError as exc:
            raise FloatShortError(exc.detail) from exc

    def uncollected(self, *, redemption: Any, action: str) -> None:
        transfer = redemption.transfer
        if action != "refund":
            webhook_event_enqueue(
                partner_id=transfer.partner_id, event_type="transfer.cash_pickup_expired",
                data=transfer_status_payload(transfer), transfer_id=transfer.pk)
            return
        if transfer.state != TransferState.PAYOUT_PENDING:
            return
        transfer_transition(
            transfer_id=transfer.pk, to_state=TransferState.PAYOUT_FAILED, actor="agents",
            reason="cash not collected within the pickup window",
            data={"redemption": str(redemption.public_id)},
            expect_from=frozenset({TransferState.PAYOUT_PENDING}))
        try:
            with transaction.atomic():
                transfer_refund_record(
                    transfer_id=transfer.pk, actor="agents",
                    reason="uncollected cash: corridor rule is refund",
                    expect_from=frozenset({TransferState.PAYOUT_FAILED}))
        except (DomainError, ImproperlyConfigured, ImportError) as exc:
            # Left at payout_failed: the correction window's deadline or an operator refunds
            # it; the failed payout is in the operators' queue meanwhile.
            logger.error("uncollected cash of transfer %s not refunded yet: %s",
                         transfer.public_id, getattr(exc, "detail", exc))

    def book(self, *, reference: str, description: str, movements: list[Movement]) -> str:
        try:
            return ledger_entry_post(reference=reference, description=description,
                                     legs=_legs(movements)).reference
        except NegativeBalanceError as exc:
            raise FloatShortError(exc.detail) from exc

    def balance(self, *, account: str, currency: str) -> Decimal:
        return account_balance(code=account, currency=currency)

