"""Cash pickup at partner agents as a ``PayoutRail``: submitting a payout issues a redemption
code; the recipient collects the cash at a counter, which completes it (``services.py``).
There is no provider callback and no single float account: each agent holds its own float,
and each agent's limits apply at its counter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ramps.payouts.agents.models import Redemption
from ramps.payouts.agents.services import redemption_code_current, redemption_issue
from ramps.payouts.rails import (
    CASH_PICKUP_RULES,
    CallbackResult,
    PayoutLimits,
    PayoutRecorded,
    PayoutState,
    RailCallbackError,
)
from ramps.payouts.registry import CASH_PICKUP

_STATES = {
    Redemption.Status.ISSUED: "pending",
    Redemption.Status.HELD: "pending",
    Redemption.Status.PAID: "succeeded",
    Redemption.Status.CANCELLED: "failed",
}


def cash_pickup_details(*, redemption: Redemption) -> dict[str, Any]:
    """The ``cash_pickup`` object of a transfer as its sender sees it (the code included while
    it can still be collected)."""
    collectable = redemption.status == Redemption.Status.ISSUED
    return {
        "status": redemption.status,
        "code": redemption_code_current(redemption=redemption) if collectable else None,
        "expires_at": redemption.expires_at.isoformat(),
        "issue_number": redemption.issue_number,
        "network": redemption.network.name,
        "paid_at": redemption.paid_at.isoformat() if redemption.paid_at else None,
    }


class CashPickupRail:
    code = CASH_PICKUP

    def recipient_validate(self, phone: str) -> str:
        return CASH_PICKUP_RULES.check(phone)

    def recipient_verify(self, phone: str) -> bool | None:
        return None  # the recipient shows an ID document at the counter

    def limits(self) -> PayoutLimits | None:
        return None

    def payout_submit(self, *, owner: Any, owner_reference: str, amount: Decimal,
                      currency: str, recipient_msisdn: str, remarks: str,
                      instructed: bool = False) -> PayoutRecorded:
        """Issue the code of ``owner`` (a transfer waiting for its payout); the amount and the
        number are the transfer's own, the SMS leaves after commit."""
        redemption = redemption_issue(transfer=owner)
        return PayoutRecorded(reference=str(redemption.public_id), rail=self.code)

    def payout_status(self, *, owner: Any, owner_reference: str) -> PayoutState | None:
        try:
            # The transfer's reverse accessor: a caller that reads many selects it with them.
            redemption = owner.redemption
        except Redemption.DoesNotExist:
            return None
        return PayoutState(status=_STATES[redemption.status],
                           reference=str(redemption.public_id),
                           details=cash_pickup_details(redemption=redemption),
                           label=redemption.get_status_display())

    def callback_parse(self, body: Any, headers: dict[str, str]) -> CallbackResult:
        raise RailCallbackError("Cash pickup takes no provider callbacks: a counter confirms.")

    def float_balance(self) -> Decimal | None:
        return None
