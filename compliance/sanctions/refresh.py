"""The scheduled refresh of sanctions lists: download, import fail-closed, re-screen the change.

Each configured source (``SANCTIONS_SOURCE_URLS``) is downloaded with a timeout into a temporary
folder and imported through ``sanctions_import`` with ``SANCTIONS_REFRESH_MIN_RATIO``: a failed
download, an empty or unparsable file, or a list shrinking below that share leaves the active
version in place. When a new version became active, the difference to the previous one goes to
the re-screen hook (``SANCTIONS_RESCREEN_HOOK``).
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from compliance.models import SanctionsList
from compliance.sanctions.config import refresh_min_ratio, rescreen_hook, source_urls
from compliance.services import SanctionsImportError, sanctions_import, sanctions_list_diff

logger = logging.getLogger(__name__)

_SUFFIXES = {"ofac-sdn": ".csv", "un-consolidated": ".xml", "ofac-crypto": ".json"}


class SanctionsDownloadError(SanctionsImportError):
    slug = "sanctions-download-failed"
    title = "Sanctions list download failed"


@dataclass
class RefreshResult:
    source: str
    status: str  # switched, unchanged, failed
    version: str = ""
    detail: str = ""
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
    """Download and import one source; never raises for a bad list (the result says why)."""
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
    diff = sanctions_list_diff(old=previous, new=loaded)
    hook = rescreen_hook()
    if hook:
        import_string(hook)(diff=diff)
    return RefreshResult(source=source, status="switched", version=loaded.version,
                         added=len(diff.added), removed=len(diff.removed),
                         changed=len(diff.changed))


def sanctions_refresh() -> list[RefreshResult]:
    """Refresh every configured source; one failing source does not stop the others."""
    return [sanctions_source_refresh(source=source, urls=urls)
            for source, urls in source_urls().items() if urls]
