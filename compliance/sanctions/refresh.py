"""The scheduled refresh of sanctions lists: download, import fail-closed, re-screen the change.

Each configured source (``SANCTIONS_SOURCE_URLS``) is downloaded with a timeout into a temporary
folder and imported through ``sanctions_import`` with ``SANCTIONS_REFRESH_MIN_RATIO``: a failed
download, an empty or unparsable file, or a list shrinking below that share leaves the active
version in place.

Then every active version not yet re-screened (``SanctionsList.rescreened_at`` empty: switched
by this run, by ``import_sanctions``, or by an earlier run whose re-screen failed) has its
difference to the version it replaced handed to the re-screen hook (``SANCTIONS_RESCREEN_HOOK``),
and is marked done only when every hook returned: a crash between the switch and the re-screen
delays it to the next run, it never loses it.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from compliance.models import SanctionsList
from compliance.sanctions.config import refresh_min_ratio, rescreen_hooks, source_urls
from compliance.services import (
    ListDiff,
    SanctionsImportError,
    sanctions_import,
    sanctions_list_diff,
)

logger = logging.getLogger(__name__)

_SUFFIXES = {"ofac-sdn": ".csv", "un-consolidated": ".xml", "ofac-crypto": ".json"}


class SanctionsDownloadError(SanctionsImportError):
    slug = "sanctions-download-failed"
    title = "Sanctions list download failed"


@dataclass
class RefreshResult:
    source: str
    status: str  # switched, unchanged, failed (the download or import)
    version: str = ""
    detail: str = ""
    rescreen: str = ""  # done, failed, or empty when nothing was pending
    added: int = 0
    removed: int = 0
    changed: int = 0


def _download(*, source: str, urls: list[str], folder: Path) -> list[Path]:
    timeout = float(getattr(settings, "SANCTIONS_DOWNLOAD_TIMEOUT_SECONDS", 60.0))
    files = []
    for position, url in enumerate(urls):
        name = Path(urlparse(url).path).name.lower()
        if not name.endswith(_SUFFIXES.get(source, "")):
            name = f"{source}-{position}{_SUFFIXES.get(source, '')}"
        try:
            response = requests.get(url, timeout=timeout)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise SanctionsDownloadError(f"{source}: {url}: {exc}; active list kept.") from exc
        path = folder / name
        path.write_bytes(response.content)
        files.append(path)
    return files


def sanctions_source_refresh(*, source: str, urls: list[str]) -> RefreshResult:
    """Download and import one source; never raises for a bad list (the result says why).
    Re-screening is left to ``sanctions_refresh``."""
    previous = SanctionsList.objects.filter(source=source, is_active=True).first()
    try:
        with tempfile.TemporaryDirectory(prefix=f"sanctions-{source}-") as folder:
            files = _download(source=source, urls=urls, folder=Path(folder))
            loaded = sanctions_import(source=source, files=files, min_ratio=refresh_min_ratio())
    except (SanctionsImportError, OSError, ValueError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "detail", "") or str(exc)
        logger.error("sanctions refresh of %s failed, active list kept: %s", source, detail)
        return RefreshResult(source=source, status="failed", detail=detail,
                             version=previous.version if previous else "")
    if previous is not None and previous.pk == loaded.pk:
        return RefreshResult(source=source, status="unchanged", version=loaded.version)
    return RefreshResult(source=source, status="switched", version=loaded.version)


def sanctions_list_rescreen(*, sanctions_list: SanctionsList) -> ListDiff:
    """Hand what ``sanctions_list`` changed against the version it replaced to each re-screen
    hook in turn, then mark it re-screened. A failing hook stops the chain and the whole chain
    runs again next time, so every hook must be idempotent (the default ones are)."""
    diff = sanctions_list_diff(old=sanctions_list.replaced, new=sanctions_list)
    for hook in rescreen_hooks():
        import_string(hook)(diff=diff)
    SanctionsList.objects.filter(pk=sanctions_list.pk).update(rescreened_at=timezone.now())
    return diff


def sanctions_refresh() -> list[RefreshResult]:
    """Refresh every configured source (one failing does not stop the others), then re-screen
    customers for every active version not yet re-screened."""
    results = {source: sanctions_source_refresh(source=source, urls=urls)
               for source, urls in source_urls().items() if urls}
    pending = SanctionsList.objects.filter(is_active=True, rescreened_at__isnull=True
                                           ).select_related("replaced").order_by("source")
    for sanctions_list in pending:
        result = results.setdefault(sanctions_list.source, RefreshResult(
            source=sanctions_list.source, status="unchanged", version=sanctions_list.version))
        try:
            diff = sanctions_list_rescreen(sanctions_list=sanctions_list)
        except Exception as exc:  # any hook failure: the next run retries it
            logger.exception("re-screening after %s version %s failed; retried next run",
                             sanctions_list.source, sanctions_list.version[:12])
            result.rescreen, result.detail = "failed", result.detail or str(exc)
            continue
        result.rescreen = "done"
        result.added, result.removed, result.changed = (len(diff.added), len(diff.removed),
                                                        len(diff.changed))
    return list(results.values())
