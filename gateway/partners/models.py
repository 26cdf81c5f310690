"""Partners (remittance senders using the API) and their API keys."""

import uuid

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from gateway.common.models import BaseModel
from ramps.chain.validators import checksum_address_validator


class Partner(BaseModel):
    """A remittance sender: a fintech, wallet or exchange that calls the API."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(default=True)
    refund_address = models.CharField(
        max_length=42, blank=True, validators=[checksum_address_validator],
        help_text=(
            "Default EIP-55 address that refunds of this partner's transfers go to when a "
            "transfer names none (e.g. the partner's own wallet rather than an exchange's "
            "omnibus address that paid)."
        ),
    )

    api_requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True,
        help_text=(
            "Requests this partner may make to the API per rate-limit window (a minute by "
            "default); empty: API_RATE_LIMIT_PER_MINUTE. See gateway.common.throttling."
        ),
    )

    def __str__(self) -> str:
        return self.name


class PartnerAPIKey(AbstractAPIKey):
    """An API key of one partner: a public prefix plus a hashed secret (never stored in clear)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "partner API key"
        verbose_name_plural = "partner API keys"
