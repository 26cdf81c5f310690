"""Normalisation shared by list import and screening, so both sides compare like with like."""

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def name_normalize(name: str) -> str:
    """Accent-free, case-free, order-free form: "PÉREZ, José" and "jose perez" are equal."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    tokens = [token for token in _NON_WORD.split(ascii_only.casefold()) if token]
    return " ".join(sorted(tokens))


def address_normalize(address: str) -> str:
    """EVM addresses are case-insensitive (EIP-55 case is only a checksum); others are not."""
    address = address.strip()
    if _EVM_ADDRESS.match(address):
        return address.lower()
    return address
