"""Checks of what an operator types for a movement of money (a float top-up, a settlement, a
venue transfer): the amount and the business reference the ledger entry is made unique by."""

from decimal import Decimal

from gateway.common.money import parse_amount
from gateway.common.problems import DomainError


def movement_amount(amount: str | Decimal, currency: str) -> Decimal:
    """A positive amount, exact in ``currency``; a DomainError (422) says what is wrong."""
    try:
        value = parse_amount(amount, currency)
    except (TypeError, ValueError) as exc:
        raise DomainError(str(exc), slug="invalid-amount", status=422) from exc
    if value <= 0:
        raise DomainError("The amount must be positive.", slug="invalid-amount", status=422)
    return value


def movement_reference(reference: str, *, of: str = "the movement") -> str:
    """The business reference (``of`` names what it refers to): required, one word, at most 64
    characters."""
    cleaned = (reference or "").strip()
    if not cleaned or len(cleaned) > 64 or any(char.isspace() for char in cleaned):
        raise DomainError(f"Give the reference of {of}: one word, at most 64 characters.",
                          slug="invalid-reference", status=422)
    return cleaned
