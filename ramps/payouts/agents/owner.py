"""What cash pickup needs from the code that owns the payouts (the gateway's transfers).

Cash pickup records its own facts (a code issued, reissued, held, redeemed at a counter, left
uncollected) and never moves a transfer or writes the ledger itself: it hands each fact to the
owner named by ``CASH_PICKUP_OWNER`` (a dotted path to a class, built once per process), which
reacts in the same database transaction. A refusal by the owner (a float that cannot cover the
cash, a transfer that moved on) rolls the fact back with it.

Money moves as ``Movement`` rows: the rail says which accounts its cash touches (the payout
liability, the agent's float, the commission owed to the network); the owner books them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from gateway.common.problems import DomainError

if TYPE_CHECKING:
    from ramps.payouts.agents.models import Agent, Redemption


# Why the owner of a code's payout does not let it be paid now, as ``payout_blocker`` says it.
BLOCKER_ON_HOLD = "on_hold"
BLOCKER_REFUNDING = "refunding"
BLOCKER_EXPIRED = "expired"
BLOCKER_NOT_READY = "not_ready"
BLOCKER_FUNDING = "funding_off_chain"  # the payment behind it left the chain (a reorg), for now


@dataclass(frozen=True)
class Movement:
    """One posting to book: ``amount`` > 0 debits, < 0 credits ``account``, in units of
    ``currency``. ``kind``: the account's kind (asset, liability, expense, revenue, equity);
    ``floor``: the account may not go below zero."""

    account: str
    currency: str
    amount: Decimal
    kind: str
    floor: bool = False

    @classmethod
    def debit(cls, account: str, currency: str, amount: Decimal, *, kind: str,
              floor: bool = False) -> Movement:
        return cls(account, currency, amount, kind, floor)

    @classmethod
    def credit(cls, account: str, currency: str, amount: Decimal, *, kind: str,
               floor: bool = False) -> Movement:
        return cls(account, currency, -amount, kind, floor)


class FloatShortError(DomainError):
    """The owner refused a booking because a floor-zero account would go negative."""

    slug = "insufficient-float"
    title = "Not enough funds in the account"
    status = 409


class CashPickupOwner(Protocol):
    def payout_blocker(self, *, owner: Any) -> str:
        """Why the payout of ``owner`` (what the code pays: a transfer) cannot happen now, one
        of the ``BLOCKER_*`` names; empty when it can (it waits for its cash payout)."""
        ...

    def redeemed(self, *, redemption: Redemption, agent: Agent, actor: str,
                 movements: list[Movement], data: dict[str, str]) -> None:
        """The cash was handed over: complete the owner and book ``movements``. Raises
        ``FloatShortError`` when the agent's float cannot cover it."""
        ...

    def uncollected(self, *, redemption: Redemption, action: str) -> None:
        """The pickup window ended with the cash not collected; ``action`` is the corridor's
        rule (``refund`` or ``notify_sender``)."""
        ...

    def book(self, *, reference: str, description: str, movements: list[Movement]) -> str:
        """Book ``movements`` as one entry under ``reference`` (idempotent); returns the entry's
        reference. Raises ``FloatShortError`` as ``redeemed`` does."""
        ...

    def balance(self, *, account: str, currency: str) -> Decimal:
        """Debit-positive balance of an account."""
        ...


@functools.cache
def _owner(path: str) -> CashPickupOwner:
    try:
        return import_string(path)()
    except ImportError as exc:
        raise ImproperlyConfigured(f"CASH_PICKUP_OWNER {path!r} cannot be imported: {exc}") from exc


def cash_pickup_owner() -> CashPickupOwner:
    path = getattr(settings, "CASH_PICKUP_OWNER", "")
    if not path:
        raise ImproperlyConfigured("CASH_PICKUP_OWNER names no owner of cash-pickup payouts.")
    return _owner(path)
