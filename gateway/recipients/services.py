"""Saving, verifying and deleting a partner's recipients."""

import logging

from django.db import transaction
from django.utils import timezone

from gateway.common.problems import DomainError
from gateway.partners.models import Partner
from gateway.recipients.models import Recipient
from gateway.transfers.models import Corridor
from gateway.transfers.services.quotes import (
    InvalidRecipientError,
    UnknownCorridorError,
    recipient_phone_validate,
)
from ramps.payouts.rails import RailError, rail_client

logger = logging.getLogger(__name__)
V = Recipient.Verification


class RecipientMismatchError(DomainError):
    slug = "recipient-verification-mismatch"
    title = "The payout rail says this recipient cannot be paid"
    status = 422


def recipient_verify(*, corridor: Corridor, phone_number: str) -> str:
    """Ask the corridor's rail whether the account can receive money (MoMo's account-holder
    check). A rail without such a check, or one that does not answer, gives cannot_verify:
    that never blocks a transfer; only the rail's own no does."""
    if corridor.rail is None:
        return V.CANNOT_VERIFY
    try:
        active = rail_client(corridor.rail).recipient_active(phone_number)
    except (RailError, ValueError) as exc:
        logger.warning("recipient check on rail %s failed: %s", corridor.rail.code, exc)
        return V.CANNOT_VERIFY
    if active is None:
        return V.CANNOT_VERIFY
    return V.VERIFIED if active else V.MISMATCH


def recipient_create(*, partner: Partner, corridor_code: str, name: str, phone_number: str,
                     country: str = "") -> Recipient:
    """Validate the recipient as a transfer's would be (name, number by the rail's rules), ask
    the rail to verify it, and save it encrypted. A mismatch is saved too, so the partner sees
    why a transfer to it is refused."""
    corridor = (Corridor.objects.select_related("rail")
                .filter(code=corridor_code, is_active=True).first())
    if corridor is None:
        raise UnknownCorridorError(f"No active corridor {corridor_code!r}.")
    name = " ".join(name.split())
    if not name:
        raise InvalidRecipientError("name must not be empty.")
    phone = recipient_phone_validate(corridor=corridor, phone=phone_number)
    verification = recipient_verify(corridor=corridor, phone_number=phone)
    details = {"name": name, "phone_number": phone}
    if country:
        details["country"] = country.upper()
    return Recipient.objects.create(partner=partner, corridor=corridor, details=details,
                                    verification=verification, verified_at=timezone.now())


def recipient_delete(*, recipient: Recipient) -> None:
    """Erase the saved recipient (transfers already made keep their own copy)."""
    with transaction.atomic():
        Recipient.objects.filter(pk=recipient.pk).delete()


def recipient_for_transfer(*, partner: Partner, recipient_id: str) -> dict:
    """The recipient fields a transfer takes from a saved recipient; refuses a mismatch."""
    from gateway.recipients.selectors import recipient_get_for_partner

    recipient = recipient_get_for_partner(partner=partner, public_id=recipient_id)
    if recipient is None:
        raise InvalidRecipientError(f"recipient_id {recipient_id} does not exist.",
                                    slug="unknown-recipient")
    if recipient.verification == V.MISMATCH:
        raise RecipientMismatchError(
            f"The rail said recipient {recipient.public_id}'s account cannot receive money; "
            "check the number with the recipient and save it again.")
    return dict(recipient.details)
