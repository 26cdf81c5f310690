"""Test data for gateway.console: enrolled operators (user, TOTP device, recovery codes)."""

from gateway.console.services import operator_create

OPERATOR_PASSWORD = "Correct-Horse-Battery-9"


def make_operator(username: str, *, roles: list[str] | None = None, superuser: bool = False):
    """An enrolled operator with ``roles`` (names from gateway.console.roles)."""
    return operator_create(username=username, password=OPERATOR_PASSWORD, roles=roles or [],
                           email=f"{username}@example.invalid", superuser=superuser)
