"""Recipients a partner saves once and names by id when it creates transfers."""

import uuid

from django.db import models

from gateway.common.crypto import EncryptedJSONField
from gateway.common.models import BaseModel


class Recipient(BaseModel):
    """A person paid on one corridor; identity encrypted at rest like customers and transfers."""

    class Verification(models.TextChoices):
        VERIFIED = "verified", "The rail confirmed the account can receive money"
        CANNOT_VERIFY = "cannot_verify", "The rail offers no check, or did not answer"
        MISMATCH = "mismatch", "The rail says this account cannot be paid (refused for transfers)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE,
                                related_name="recipients")
    corridor = models.ForeignKey("transfers.Corridor", on_delete=models.PROTECT,
                                 related_name="recipients")
    details = EncryptedJSONField(help_text="name, phone_number (E.164), country (encrypted)")
    verification = models.CharField(max_length=16, choices=Verification.choices)
    verified_at = models.DateTimeField(help_text="When the rail was asked")

    class Meta:
        indexes = [models.Index(fields=["partner", "-created_at"],
                                name="recipient_partner_newest")]

    def __str__(self) -> str:
        return f"recipient {self.public_id}"
