"""``PayoutRail`` for mobile-money providers: payout attempts sent once under a stored
reference, settled by callbacks and status queries (``services.py``). Each provider's package
names its client (``mpesa.rail``, ``momo.rail``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from ramps.payouts.models import PayoutAttempt, Rail
from ramps.payouts.rails import (
    CallbackResult,
    PayoutLimits,
    PayoutRecorded,
    PayoutState,
    RailClient,
)

_STATES = {
    PayoutAttempt.Status.CREATED: "pending",
    PayoutAttempt.Status.SUBMITTED: "pending",
    PayoutAttempt.Status.SUCCEEDED: "succeeded",
    PayoutAttempt.Status.FAILED: "failed",
    PayoutAttempt.Status.UNKNOWN: "unknown",
}


class MobileMoneyRail:
    client_class: ClassVar[type]

    def __init__(self, rail: Rail) -> None:
        self.rail = rail
        self.code = rail.code

    @property
    def client(self) -> RailClient:
        return self.client_class(self.rail)

    def recipient_validate(self, phone: str) -> str:
        return self.client.recipient_validate(phone)

    def recipient_verify(self, phone: str) -> bool | None:
        return self.client.recipient_active(phone)

    def limits(self) -> PayoutLimits:
        return PayoutLimits(minimum=self.rail.min_amount, maximum=self.rail.max_amount,
                            currency=self.rail.currency)

    def payout_submit(self, *, owner: Any, owner_reference: str, amount: Decimal,
                      currency: str, recipient_msisdn: str, remarks: str,
                      instructed: bool = False) -> PayoutRecorded:
        from ramps.payouts.services import payout_attempt_create

        attempt = payout_attempt_create(
            rail=self.rail, owner_reference=owner_reference, amount=amount, currency=currency,
            recipient_msisdn=recipient_msisdn, remarks=remarks, instructed=instructed)
        return PayoutRecorded(reference=attempt.reference, rail=self.code)

    def payout_status(self, *, owner: Any, owner_reference: str) -> PayoutState | None:
        attempt = (PayoutAttempt.objects.filter(rail=self.rail, owner_reference=owner_reference)
                   .order_by("-created_at", "-id").first())
        if attempt is None:
            return None
        return PayoutState(status=_STATES[attempt.status], reference=attempt.reference,
                           label=attempt.get_status_display())

    def callback_parse(self, body: Any, headers: dict[str, str]) -> CallbackResult:
        return self.client.parse_callback(body, headers)

    def float_balance(self) -> Decimal | None:
        from ramps.payouts.services import rail_float_reported

        report = rail_float_reported(rail=self.rail)
        return report.amount if report is not None else None
