"""Partner API-key authentication.

Clients send ``Authorization: Api-Key <prefix>.<secret>`` (or ``X-API-Key``). The key is checked
against its stored hash; ``request.auth`` is the key and ``request.partner`` its partner.
"""

from typing import Any

from rest_framework import authentication, exceptions, permissions

from gateway.common.api_keys import api_key_from_headers
from gateway.partners.models import Partner, PartnerAPIKey


class PartnerPrincipal:
    """The authenticated caller: a partner, not a Django user."""

    is_authenticated = True
    is_active = True

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    def __str__(self) -> str:
        return f"partner:{self.partner.name}"


class PartnerAPIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request) -> tuple[PartnerPrincipal, PartnerAPIKey] | None:
        key = api_key_from_headers(request.META)
        if not key:
            return None
        try:
            api_key = PartnerAPIKey.objects.get_from_key(key)
        except PartnerAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown API key.") from None
        if not api_key.is_valid(key) or api_key.revoked or api_key.has_expired:
            raise exceptions.AuthenticationFailed("API key is invalid, revoked or expired.")
        if not api_key.partner.is_active:
            raise exceptions.AuthenticationFailed("Partner is disabled.")
        request._request.partner = api_key.partner
        return PartnerPrincipal(api_key.partner), api_key

    def authenticate_header(self, request: Any) -> str:
        return "Api-Key"


class IsPartner(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, PartnerPrincipal)


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class PartnerAPIKeyScheme(OpenApiAuthenticationExtension):
        target_class = "gateway.partners.authentication.PartnerAPIKeyAuthentication"
        name = "PartnerApiKey"

        def get_security_definition(self, auto_schema):
            return {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "Api-Key <prefix>.<secret>"}
except ImportError:  # pragma: no cover - drf-spectacular is a dependency
    pass
