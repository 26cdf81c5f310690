"""The one interface every payout rail client offers, and the factory that picks the client.

Two layers: ``PayoutRail`` (at the end) is what the gateway calls for every rail, cash pickup
included, picked by ``registry.payout_rail``; ``RailClient`` is the provider client behind a
mobile-money rail. Services talk to providers only through ``rail_client(rail)``; each
provider's wire format stays in its own client module (``mpesa/client.py``, ``momo/client.py``).
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

    def check(self, phone: str, *, default_region: str | None = None) -> str:
        """The number in E.164 if the service can pay it; else ``RecipientNotPayableError``.

        A national number (``0712 345678``) is read in the service's country, or, for a service
        of any country, in ``default_region`` (the recipient's) when given."""
        try:
            parsed = phone_parse(phone, default_region=self.country or default_region or None)
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
    """The provider client of a mobile-money rail (through ``registry.payout_rail``)."""
    from ramps.payouts.registry import payout_rail

    client = getattr(payout_rail(rail), "client", None)
    if client is None:
        raise ValueError(f"Rail kind {rail.kind!r} has no provider client.")
    return client


# -- the rail as the gateway sees it -------------------------------------------------------------

PayoutStatus = Literal["pending", "succeeded", "failed", "unknown"]


@dataclass(frozen=True)
class PayoutRecorded:
    """What a rail recorded for one payout before anything left: its idempotency reference
    (a mobile-money attempt's reference, a redemption code's public id)."""

    reference: str
    rail: str


@dataclass(frozen=True)
class PayoutState:
    """Where a payout stands on its rail. ``pending``: waiting for the provider or the
    recipient; ``unknown``: the rail cannot say until it asks. ``details``: what the sender may
    see of it (cash pickup: the code, its expiry and network), None when there is nothing."""


    status: PayoutStatus
    reference: str
    details: dict[str, Any] | None = None
    # The rail's own word for where it stands, for operators ("Issued: the recipient may
    # collect", "Outcome unknown").
    label: str = ""


@dataclass(frozen=True)
class PayoutLimits:
    """Smallest and largest single payout the rail takes, in units of ``currency``."""

    minimum: Decimal
    maximum: Decimal
    currency: str


class PayoutRail(Protocol):
    """One way to pay a recipient. Every rail (M-Pesa, MoMo, cash at agents, the next one)
    offers these calls; ``ramps.payouts.registry.payout_rail`` picks the implementation. The
    rail records its own facts (attempts and callbacks, codes issued and redeemed); the owner
    of a payout (the gateway's transfer) reacts to them."""

    code: str

    def recipient_validate(self, phone: str) -> str:
        """The recipient's number in E.164 if this rail can pay it (checked offline);
        ``RecipientNotPayableError`` otherwise."""
        ...

    def recipient_verify(self, phone: str) -> bool | None:
        """Whether the provider says the recipient can receive money; None when it cannot
        tell. Raises ``RailError`` when the provider does not answer."""
        ...

    def limits(self) -> PayoutLimits | None:
        """Rail-wide payout limits; None when the limits are per counter (cash pickup)."""
        ...

    def payout_submit(self, *, owner: Any, owner_reference: str, amount: Decimal,
                      currency: str, recipient_msisdn: str, remarks: str,
                      instructed: bool = False) -> PayoutRecorded:
        """Record the payout of ``owner`` inside the caller's transaction, stored before
        anything leaves (idempotent per ``owner_reference``). Mobile money: an attempt that
        the driver sends after commit; cash pickup: a redemption code, texted after commit."""
        ...

    def payout_status(self, *, owner: Any, owner_reference: str) -> PayoutState | None:
        """The latest payout of ``owner`` on this rail; None when it has none."""
        ...

    def callback_parse(self, body: Any, headers: dict[str, str]) -> CallbackResult:
        """A provider callback's facts; ``RailCallbackError`` when the body is not the
        provider's shape (or the rail takes no callbacks)."""
        ...

    def float_balance(self) -> Decimal | None:
        """The rail account's available float as the provider last reported it; None when
        there is no single account (cash pickup: each agent holds its own)."""
        ...
