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

One run at a time re-screens a version: a run claims it with a PostgreSQL session advisory lock
(``_rescreen_claim``), not a row lock, so no transaction stays open through the re-screen and
the hooks' short per-subject transactions lock only their own rows. A second run meanwhile (the
next beat while a long re-screen goes on, a redelivered task) leaves that version to the first
(``rescreen`` "busy"); a worker that dies loses its connection and with it the claim, and the
next run starts over, the hooks skipping what was already recorded.
"""

import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.db import connection
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
    rescreen: str = ""  # done, failed, busy (another run has it), or empty when nothing pending
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


@contextmanager
def _rescreen_claim(sanctions_list: SanctionsList) -> Iterator[bool]:
    """True when this run may re-screen the version (and holds it until the block ends), False
    when another run has it. A session-level advisory lock, released on exit or when the
    connection ends; other databases (the demo's SQLite, one process) always get True."""
    if connection.vendor != "postgresql":
        yield True
        return
    digest = hashlib.sha256(f"sanctions-rescreen:{sanctions_list.pk}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        claimed = bool(cursor.fetchone()[0])
    try:
        yield claimed
    finally:
        if claimed:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def sanctions_list_rescreen(*, sanctions_list: SanctionsList) -> ListDiff:
    """Hand what ``sanctions_list`` changed against the version it replaced to each re-screen
    hook in turn, then mark it re-screened. A failing hook does not keep the next ones from
    running (customers failing must not leave transfers in flight unstopped); the first
    failure is raised once all ran, the version stays unmarked and the whole chain runs again
    next time, so every hook must be idempotent (the default ones are)."""
    diff = sanctions_list_diff(old=sanctions_list.replaced, new=sanctions_list)
    failures: list[Exception] = []
    for hook in rescreen_hooks():
        try:
            import_string(hook)(diff=diff)
        except Exception as exc:  # the others still run; raised below
            logger.exception("re-screen hook %s failed for %s version %s", hook,
                             sanctions_list.source, sanctions_list.version[:12])
            failures.append(exc)
    if failures:
        raise failures[0]
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
        with _rescreen_claim(sanctions_list) as claimed:
            if not claimed:
                logger.info("re-screening after %s version %s is running in another worker",
                            sanctions_list.source, sanctions_list.version[:12])
                result.rescreen = "busy"
                continue
            if SanctionsList.objects.filter(pk=sanctions_list.pk,
                                            rescreened_at__isnull=False).exists():
                result.rescreen = "done"  # by the run that held it just before this one
                continue
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
