"""Reads of the active sanctions lists."""

from compliance.models import SanctionedAddress, SanctionedName, SanctionsList
from compliance.normalize import address_normalize, name_normalize


def active_list_versions() -> dict[str, str]:
    return dict(SanctionsList.objects.filter(is_active=True).values_list("source", "version"))


def sanctioned_address_hits(*, addresses: list[str]) -> list[SanctionedAddress]:
    normalized = {address_normalize(a) for a in addresses if a}
    if not normalized:
        return []
    return list(
        SanctionedAddress.objects.filter(
            sanctions_list__is_active=True, normalized__in=normalized
        ).select_related("sanctions_list")
    )


def sanctioned_name_hits(*, names: list[str]) -> list[SanctionedName]:
    normalized = {name_normalize(n) for n in names if n and n.strip()}
    if not normalized:
        return []
    return list(
        SanctionedName.objects.filter(
            sanctions_list__is_active=True, normalized__in=normalized
        ).select_related("sanctions_list")
    )
