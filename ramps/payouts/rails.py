"""The one interface every payout rail client offers, and the factory that picks the client.

Services talk to providers only through ``rail_client(rail)``; each provider's wire format stays
in its own client module (``mpesa/client.py``, ``momo/client.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gateway.common.phones import PhoneNumberError, phone_parse
from gateway.common.problems import DomainError

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
    # Set on the answer to an asynchronous status query (Daraja): the nonce this gateway sent
    # with the query and the provider echoed back; empty on a payment's own result.
    query_nonce: str = ""
    # Whether this is the answer to a status query (a payment's own result otherwise).
    is_status_answer: bool = False


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


class RecipientNotPayableError(DomainError):
    """The rail cannot pay this recipient: refused before any money moves."""

    slug = "invalid-recipient"
    title = "The recipient cannot be paid on this corridor"
    status = 422


@dataclass(frozen=True)
class RecipientRules:
    """Which phone numbers a payout service can pay.

    ``country``: numbers of this ISO 3166 country only. ``operators``: names of the network
    operators whose lines hold the wallet, as ``phonenumbers`` names the holder of a number's
    prefix (matched at the start of the name: "MTN" matches "MTN Cameroon"); empty accepts any
    operator. A number must be a mobile (or a "fixed line or mobile" where the plan cannot tell).
    """

    service: str
    country: str
    operators: tuple[str, ...] = ()

    def check(self, phone: str) -> str:
        """The number in E.164 if the service can pay it; else ``RecipientNotPayableError``."""
        try:
            parsed = phone_parse(phone, default_region=self.country or None)
        except PhoneNumberError as exc:
            raise RecipientNotPayableError(str(exc), extra={"reason": "invalid_number"}) from None
        if self.country and parsed.region != self.country:
            raise RecipientNotPayableError(
                f"{parsed.e164} is a number of "
                f"{parsed.region or 'no country'}; {self.service} pays numbers of {self.country}.",
                extra={"reason": "wrong_country"})
        if not parsed.is_mobile:
            raise RecipientNotPayableError(
                f"{parsed.e164} is not a mobile number (numbering plan: "
                f"{parsed.type_name.replace('_', ' ')}); {self.service} pays mobile numbers only.",
                extra={"reason": "not_mobile"})
        if self.operators and not any(parsed.operator.lower().startswith(name.lower())
                                      for name in self.operators):
            holder = f"a {parsed.operator} line" if parsed.operator else "of no known operator"
            raise RecipientNotPayableError(
                f"{parsed.e164} is {holder}; {self.service} pays "
                f"{' or '.join(self.operators)} lines only.",
                extra={"reason": "wrong_operator"})
        return parsed.e164


# The operators whose subscribers hold the wallets each service pays, per country. A country
# missing from a table accepts any mobile of that country (the provider's own account check, where
# it has one, still runs before paying).
MPESA_OPERATORS: dict[str, tuple[str, ...]] = {
    "KE": ("Safaricom",),  # Daraja B2C pays M-PESA customers: Safaricom lines (07xx, 011x)
    "ET": ("Safaricom",),
}
MOMO_OPERATORS: dict[str, tuple[str, ...]] = {
    "UG": ("MTN",), "GH": ("MTN",), "RW": ("MTN",), "ZM": ("MTN",), "CM": ("MTN",),
    "CI": ("MTN",), "BJ": ("MTN",), "CG": ("MTN",), "SZ": ("MTN",), "GN": ("MTN", "Areeba"),
    "LR": ("Lonestar", "MTN"), "NG": ("MTN",), "ZA": ("MTN",),
}

# Cash pickup needs a number that receives the redemption code by SMS, in any country.
CASH_PICKUP_RULES = RecipientRules(service="cash pickup", country="")


class RailClient(Protocol):
    # True if ``query`` answers synchronously (MoMo); False if the answer arrives as a callback
    # at ``result_url`` (Daraja's transaction status query).
    synchronous_query: bool

    def submit(self, attempt: PayoutAttempt, *, result_url: str,
               timeout_url: str) -> SubmitOutcome: ...

    def query(self, attempt: PayoutAttempt, *, result_url: str, timeout_url: str,
              nonce: str = "") -> QueryOutcome | None:
        """Ask for the payment's status. A synchronous provider answers at once; an asynchronous
        one (None) posts the answer to ``result_url`` later, echoing ``nonce``."""
        ...

    def parse_callback(self, body: Any, headers: dict[str, str]) -> CallbackResult: ...

    def recipient_active(self, msisdn: str) -> bool | None:
        """Whether the recipient can receive money, asked before paying; None when the API has
        no such check (Daraja)."""
        ...

    def balance(self) -> BalanceReport | None:
        """The account's available balance asked synchronously; None when the provider only
        reports it with results (Daraja)."""
        ...

    def recipient_validate(self, phone: str) -> str:
        """The recipient's number in E.164 if this rail can pay it, checked offline (number
        type, country, operator); raises ``RecipientNotPayableError`` otherwise."""
        ...


def rail_recipient_validate(rail: Rail, phone: str) -> str:
    """Check a recipient number against ``rail``'s own rules before any money moves."""
    return rail_client(rail).recipient_validate(phone)


def rail_client(rail: Rail) -> RailClient:
    from ramps.payouts.models import Rail

    if rail.kind == Rail.Kind.MPESA_B2C:
        from ramps.payouts.mpesa.client import DarajaClient

        return DarajaClient(rail)
    if rail.kind == Rail.Kind.MOMO_DISBURSEMENT:
        from ramps.payouts.momo.client import MomoClient

        return MomoClient(rail)
    raise ValueError(f"No client for rail kind {rail.kind!r}.")
