"""Finding transfers by the parties' phone number or name without decrypting them: keyed hashes
(blind indexes, ``compliance.kyc.blind_index``) of the recipient's phone number in E.164 and of
both parties' names folded for case, accents and spacing, stored beside the encrypted parties.

The purposes are those of the monitoring windows' party references (``party-phone``,
``party-name``), so one hash names one party wherever it appears.
"""

from typing import Any

from compliance.kyc.blind_index import blind_index
from gateway.common.phones import PhoneNumberError, phone_e164

PHONE_PURPOSE = "party-phone"
NAME_PURPOSE = "party-name"


def phone_search_key(text: str) -> str:
    """The index of a phone number as an operator types it ("+254 708 374 149",
    "254708374149"); empty when it is not an international number."""
    text = (text or "").strip()
    if not text or sum(character.isdigit() for character in text) < 6:
        return ""
    for candidate in (text, "+" + "".join(c for c in text if c.isdigit())):
        try:
            return blind_index(purpose=PHONE_PURPOSE, value=phone_e164(candidate))
        except PhoneNumberError:
            continue
    return ""


def name_search_key(text: str) -> str:
    """The index of a name as typed ("JOSÉ  mwangi" finds "Jose Mwangi")."""
    return blind_index(purpose=NAME_PURPOSE, value=text or "")


def transfer_party_indexes(*, sender: dict[str, Any] | None,
                           recipient: dict[str, Any] | None) -> dict[str, str]:
    """The index columns of a transfer from its (validated) parties."""
    phone = (recipient or {}).get("phone_number", "") or ""
    try:
        phone_index = blind_index(purpose=PHONE_PURPOSE, value=phone_e164(phone)) if phone \
            else ""
    except PhoneNumberError:  # rows from before numbers were validated keep what they hold
        phone_index = blind_index(purpose=PHONE_PURPOSE, value=phone)
    return {
        "recipient_phone_index": phone_index,
        "recipient_name_index": name_search_key((recipient or {}).get("name", "") or ""),
        "sender_name_index": name_search_key((sender or {}).get("name", "") or ""),
    }
