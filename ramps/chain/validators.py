"""Checks of EVM addresses given from outside (a refund address, a token contract, a
treasury): EIP-55 checksums, pure functions that need no node.

Kept free of the project's error classes (models import this module at start-up); services
turn a problem into their own error (``InvalidRefundAddressError``, ``ChainConfigError``...).
"""

from django.core.exceptions import ValidationError
from eth_utils import is_address, is_checksum_address, to_checksum_address

__all__ = ["address_problem", "checksum_address_problem", "checksum_address_validator",
           "is_address", "to_checksum_address"]


def address_problem(value: str, *, what: str) -> str:
    """Why ``value`` is not an EVM address, or "" if it is one: all-lowercase and
    all-uppercase forms carry no checksum and pass; a mixed-case one must have the right
    EIP-55 checksum (a wrong one is a typo)."""
    address = (value or "").strip()
    if not is_address(address):
        return f"{what} {address!r} is not an EVM address."
    if address != address.lower() and address != address.upper() and (
            not is_checksum_address(address)):
        return f"{what} {address!r} has a wrong EIP-55 checksum (a typo?)."
    return ""


def checksum_address_problem(value: str, *, what: str = "refund_address") -> str:
    """Why ``value`` is not a usable EIP-55 checksummed EVM address, or "" if it is.

    Only the checksummed form is accepted: an all-lowercase or all-uppercase address carries
    no checksum, so a mistyped character would send a refund to an address nobody controls.
    """
    address = (value or "").strip()
    if not is_address(address):
        return f"{what} {value!r} is not an EVM address (0x and 40 hexadecimal digits)."
    if not is_checksum_address(address):
        return (f"{what} {address!r} is not in its EIP-55 checksummed form "
                f"({to_checksum_address(address)} if the digits are right); the checksum "
                "protects a refund from a typo.")
    if int(address, 16) == 0:
        return f"{what} is the zero address: a refund there would be burnt."
    return ""


def checksum_address_validator(value: str) -> None:
    """Model and form validator of an optional refund address (empty is allowed)."""
    if value and (problem := checksum_address_problem(value)):
        raise ValidationError(problem)
