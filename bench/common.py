"""Small helpers shared by the benchmarks: timing, percentiles, the closing JSON line."""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse, urlunparse


def database_ensure() -> None:
    """Create the PostgreSQL database named by DATABASE_URL if it does not exist yet, so a
    benchmark runs on a fresh machine with nothing but the server."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway")
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    name = parsed.path.lstrip("/")
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                               (name,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_setup() -> None:
    """Configure Django for a benchmark run (PostgreSQL from DATABASE_URL, as the tests use)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    database_ensure()
    import django

    django.setup()


def arguments(description: str, *, profile: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a run under a minute")
    if profile:
        parser.add_argument("--profile", action="store_true",
                            help="print the slowest SQL queries to stderr")
    return parser.parse_args()


def percentile(values: Iterable[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """(milliseconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return (time.perf_counter() - start) * 1000, result


def summary_ms(samples: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(samples, 0.50), 3), "p99": round(percentile(samples, 0.99), 3),
            "mean": round(statistics.fmean(samples), 3) if samples else float("nan")}


def report(figures: dict[str, Any]) -> None:
    """Readable lines, then the JSON line that scripts read (always the last line)."""
    width = max(len(key) for key in figures) if figures else 0
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures, sort_keys=True))
