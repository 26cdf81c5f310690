"""Sanctions configuration, read from Django settings (which read the environment).

Defaults apply when a setting is absent, so the demo and the tests run without extra variables.
"""

from django.conf import settings

from compliance.screening.matcher import Thresholds

DEFAULT_SOURCE_URLS = {
    "ofac-sdn": ["https://www.treasury.gov/ofac/downloads/sdn.csv"],
    "un-consolidated": ["https://scsanctions.un.org/resources/xml/en/consolidated.xml"],
}


def screening_thresholds() -> Thresholds:
    review = float(getattr(settings, "SANCTIONS_REVIEW_THRESHOLD", 0.85))
    block = float(getattr(settings, "SANCTIONS_BLOCK_THRESHOLD", 0.95))
    if not 0 < review <= block <= 1:
        raise ValueError(f"sanctions thresholds must satisfy 0 < review <= block <= 1 "
                         f"(review {review}, block {block})")
    return Thresholds(review=review, block=block)


def source_urls() -> dict[str, list[str]]:
    """source -> URLs of its files; a source with no URL is not refreshed."""
    configured = getattr(settings, "SANCTIONS_SOURCE_URLS", None)
    return DEFAULT_SOURCE_URLS if configured is None else configured


def refresh_min_ratio() -> float:
    """A refreshed list smaller than this share of the active one is refused (a truncated
    download parses as a shorter list, not as an error)."""
    return float(getattr(settings, "SANCTIONS_REFRESH_MIN_RATIO", 0.9))


# Compliance's own subjects, its customers (KYC), whose hits open cases: the hook is the cases
# app's, named here and never imported (cases depends on screening, not the other way). The
# project's settings chain the gateway's hooks after it (transfers in flight, saved recipients):
# compliance does not name gateway.
DEFAULT_RESCREEN_HOOK = "compliance.cases.rescreen.customers_rescreen"
# Where a hook used to live -> where it is now, so a deployment whose SANCTIONS_RESCREEN_HOOK
# still names the old path keeps working.
MOVED_RESCREEN_HOOKS = {"compliance.sanctions.rescreen.customers_rescreen": DEFAULT_RESCREEN_HOOK}


def rescreen_hooks() -> list[str]:
    """Dotted paths of ``f(*, diff)`` (a ``ListDiff``) called in order after a refresh switched a
    list version (``SANCTIONS_RESCREEN_HOOK``, comma-separated, or a list); without the setting
    active customers are re-screened (the project's settings add transfers in flight and saved
    recipients) and new hits open cases. An empty setting turns re-screening off. A hook's old
    path (``MOVED_RESCREEN_HOOKS``) is read as its current one."""
    configured = getattr(settings, "SANCTIONS_RESCREEN_HOOK", DEFAULT_RESCREEN_HOOK)
    paths = configured.split(",") if isinstance(configured, str) else list(configured)
    stripped = (path.strip() for path in paths if path and path.strip())
    return [MOVED_RESCREEN_HOOKS.get(path, path) for path in stripped]
