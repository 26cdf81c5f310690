"""Each operator sees times and dashboard days in their own time zone: a per-operator setting
(``OperatorPreference.time_zone``), by default CONSOLE_TIME_ZONE; the database keeps UTC.

``OperatorTimeZoneMiddleware`` activates the zone for the whole request (templates render after
the view returns, so it cannot be done inside a view)."""

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from gateway.common.problems import DomainError


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def time_zone_default() -> str:
    return getattr(settings, "CONSOLE_TIME_ZONE", "") or "UTC"


def operator_time_zone(*, user) -> zoneinfo.ZoneInfo:
    """The zone the operator chose, else the default."""
    from gateway.console.models import OperatorPreference

    name = ""
    if user is not None and user.is_authenticated and user.is_staff:
        name = OperatorPreference.objects.filter(user=user).values_list(
            "time_zone", flat=True).first() or ""
    try:
        return zoneinfo.ZoneInfo(name or time_zone_default())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def operator_time_zone_set(*, user, name: str) -> str:
    """Store the operator's zone (an IANA name; empty: back to the default)."""
    from gateway.console.models import OperatorPreference

    name = (name or "").strip()
    if name and name not in time_zone_names():
        raise DomainError(f"{name[:64]!r} is not a time zone name like Africa/Nairobi.",
                          slug="invalid-time-zone", status=400)
    OperatorPreference.objects.update_or_create(user=user, defaults={"time_zone": name})
    return name or time_zone_default()


class OperatorTimeZoneMiddleware:
    """Times in the admin in the signed-in operator's zone (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if not request.path.startswith("/admin/") or user is None or \
                not user.is_authenticated:
            return self.get_response(request)
        timezone.activate(operator_time_zone(user=user))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
