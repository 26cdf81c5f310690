"""Checks of addresses given from outside (a sender's refund address, a partner's default).

Kept free of the project's error classes (models import this module at start-up); services
turn a problem into ``InvalidRefundAddressError``.
"""

from django.core.exceptions import ValidationError
from web3 import Web3


def checksum_address_problem(value: str, *, what: str = "refund_address") -> str:
    """Why ``value`` is not a usable EIP-55 checksummed EVM address, or "" if it is.

    Only the checksummed form is accepted: an all-lowercase or all-uppercase address carries
    no checksum, so a mistyped character would send a refund to an address nobody controls.
    """
    address = (value or "").strip()
    if not Web3.is_address(address):
        return f"{what} {value!r} is not an EVM address (0x and 40 hexadecimal digits)."
    if not Web3.is_checksum_address(address):
        return (f"{what} {address!r} is not in its EIP-55 checksummed form "
                f"({Web3.to_checksum_address(address)} if the digits are right); the checksum "
                "protects a refund from a typo.")
    if int(address, 16) == 0:
        return f"{what} is the zero address: a refund there would be burnt."
    return ""


def checksum_address_validator(value: str) -> None:
    """Model and form validator of an optional refund address (empty is allowed)."""
    if value and (problem := checksum_address_problem(value)):
        raise ValidationError(problem)
