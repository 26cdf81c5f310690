"""The one interface every payout rail client offers, and the factory that picks the client.

Services talk to providers only through ``rail_client(rail)``; each provider's wire format stays
in its own client module (``mpesa/client.py``, ``momo/client.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ramps.payouts.models import PayoutAttempt, Rail

SubmitStatus = Literal["accepted", "rejected", "unknown"]
ResultStatus = Literal["succeeded", "failed", "pending", "not_found"]

RETRYABLE = "retryable"
FINAL = "final"
NEEDS_OPERATOR = "needs_operator"


@dataclass(frozen=True)
class SubmitOutcome:
    """What the provider's synchronous answer to a payment request says.

    ``accepted``: the provider took the request, the result follows. ``rejected``: the provider
    definitively refused it and paid nothing (``failure_kind`` says whether trying again can
    help). ``unknown``: the request may have been processed (timeout after sending, dropped
    connection, reference already known to the provider).
    """

    status: SubmitStatus
    failure_kind: str = ""
    provider_reference: str = ""
    result_code: str = ""
    result_description: str = ""
    raw: Any = None


@dataclass(frozen=True)
class QueryOutcome:
    """A provider's answer about one payment. ``not_found``: the provider has no such request
    (or the query itself failed), which by itself settles nothing."""

    status: ResultStatus
    reference: str = ""
    provider_reference: str = ""
    provider_receipt: str = ""
    result_code: str = ""
    result_description: str = ""
    failure_kind: str = ""
    raw: Any = None
    # The rail account's available balance, when the provider reports it with the result
    # (Daraja does in every B2C result).
    float_balance: Decimal | None = None


@dataclass(frozen=True)
class BalanceReport:
    """An account balance as a provider reported it."""

    amount: Decimal
    currency: str
    raw: Any = None


# A callback carries the same facts as a query answer, plus the reference it belongs to.
CallbackResult = QueryOutcome


class RailError(Exception):
    """A call to a provider could not be completed."""


class RailNotSentError(RailError):
    """The request certainly did not reach the provider (no connection, no token): sending it
    again with the same reference is safe."""


class RailCallbackError(RailError):
    """A callback body that does not have the provider's shape."""


class RailClient(Protocol):
    # True if ``query`` answers synchronously (MoMo); False if the answer arrives as a callback
    # at ``result_url`` (Daraja's transaction status query).
    synchronous_query: bool

    def submit(self, attempt: PayoutAttempt, *, result_url: str,
               timeout_url: str) -> SubmitOutcome: ...

    def query(self, attempt: PayoutAttempt, *, result_url: str,
              timeout_url: str) -> QueryOutcome | None: ...

    def parse_callback(self, body: Any, headers: dict[str, str]) -> CallbackResult: ...

    def recipient_active(self, msisdn: str) -> bool | None:
        """Whether the recipient can receive money, asked before paying; None when the API has
        no such check (Daraja)."""
        ...

    def balance(self) -> BalanceReport | None:
        """The account's available balance asked synchronously; None when the provider only
        reports it with results (Daraja)."""
        ...


def rail_client(rail: Rail) -> RailClient:
    from ramps.payouts.models import Rail

    if rail.kind == Rail.Kind.MPESA_B2C:
        from ramps.payouts.mpesa.client import DarajaClient

        return DarajaClient(rail)
    if rail.kind == Rail.Kind.MOMO_DISBURSEMENT:
        from ramps.payouts.momo.client import MomoClient

        return MomoClient(rail)
    raise ValueError(f"No client for rail kind {rail.kind!r}.")
