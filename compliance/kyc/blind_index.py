"""Keyed hashes (blind indexes) for exact-match lookups of encrypted personal data.

HMAC-SHA256 under ``BLIND_INDEX_KEY``, a key separate from the encryption keys: whoever reads the
database sees neither the values nor, without the key, a way to test guesses against the hashes.
Each index has its own purpose label, so equal values in different fields do not hash alike.
Values are normalised first (case, spacing, accents) so that lookups match what was stored.
"""

import hashlib
import hmac
import unicodedata

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _key() -> bytes:
    key = getattr(settings, "BLIND_INDEX_KEY", "")
    if not key:
        raise ImproperlyConfigured("Set BLIND_INDEX_KEY (the key of the personal-data lookups).")
    return key.encode()


def text_fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def blind_index(*, purpose: str, value: str) -> str:
    """Hex HMAC of ``purpose`` and the folded ``value``; empty for an empty value."""
    folded = text_fold(value)
    if not folded:
        return ""
    message = f"{purpose}\x1f{folded}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def customer_indexes(*, kind: str, fields: dict[str, str]) -> dict[str, str]:
    """The index columns of a customer from its (already validated) fields."""
    if kind == "business":
        name = fields.get("organization.name", "")
        number = fields.get("organization.registration_number", "")
        document = (f"{fields.get('organization.registration_country_code', '')}:RAID:{number}"
                    if number else "")
        birth_date = ""
        phone = fields.get("organization.phone_number", "")
    else:
        name = " ".join(fields[part] for part in ("first_name", "additional_name", "last_name")
                        if fields.get(part))
        number = fields.get("id_number", "")
        document = (f"{fields.get('id_country_code', '')}:{fields.get('id_type', '')}:{number}"
                    if number else "")
        birth_date = fields.get("birth_date", "")
        phone = fields.get("mobile_number", "")
    return {
        "name_index": blind_index(purpose="name", value=name),
        "name_birth_date_index": blind_index(purpose="name-birth-date",
                                             value=f"{name}|{birth_date}") if name and birth_date
        else "",
        "id_number_index": blind_index(purpose="id-number", value=document),
        "phone_index": blind_index(purpose="phone", value=phone),
    }
