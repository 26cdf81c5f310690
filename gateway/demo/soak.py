"""Soak the demo's embedded broker: a real Celery worker consumes while several processes publish.

    python -m gateway.demo.soak [--seconds 300] [--publishers 3] [--rate 3] [--quick]

It starts, in a fresh directory, one Celery worker (prefork, 2 processes) with the demo's
settings (``GATEWAY_DEMO=1``: the SQLite broker of ``gateway.demo.broker``) and ``--publishers``
processes that each send ``--rate`` probe tasks a second (about 2 KB each, like the gateway's
own) for ``--seconds``, as the web server, beat and the worker do at once in ``make demo``. Then
it waits for the backlog to drain and checks that every message was consumed exactly once, that
the worker is still running and that its log has no error. It prints the figures, and as the
last line one JSON object. The exit status is 0 only if nothing was lost, duplicated or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
PAYLOAD_BYTES = 2000
ERROR_MARKERS = ("Unrecoverable error", "Traceback", "CRITICAL", "JSONDecodeError",
                 "OperationalError", "database is locked")


def _env(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELERY_BROKER_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(GATEWAY_DEMO="1", GATEWAY_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="gateway.settings")
    return env


def publish(*, first_index: int, count: int, rate: float, log_path: str) -> None:
    """Child mode: send ``count`` probes at ``rate`` a second (paced on a monotonic clock)."""
    import django

    django.setup()
    from gateway.demo.tasks import broker_soak_probe

    padding = "x" * PAYLOAD_BYTES
    start = time.monotonic()
    for offset in range(count):
        due = start + offset / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        broker_soak_probe.delay(first_index + offset, time.time(), log_path, padding)


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def soak(*, seconds: float, publishers: int, rate: float, var_dir: Path,
         drain_timeout: float = 120.0) -> dict:
    env = _env(var_dir)
    log_path = var_dir / "soak-consumed.jsonl"
    worker_log = var_dir / "worker.log"
    per_publisher = max(1, int(seconds * rate))
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--loglevel", "INFO",
             "--concurrency", "2", "--hostname", f"soak-{os.getpid()}@%h", "--without-mingle",
             "--without-gossip"],
            cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    children = []
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in worker_log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + worker_log.read_text())
            time.sleep(0.2)
        for number in range(publishers):
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gateway.demo.soak", "--publish-first",
                 str(number * per_publisher), "--publish-count", str(per_publisher),
                 "--rate", str(rate), "--log", str(log_path)],
                cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL))
        publisher_failures = sum(1 for child in children if child.wait() != 0)
        published = publishers * per_publisher
        deadline = time.monotonic() + drain_timeout
        while len(_read_log(log_path)) < published and time.monotonic() < deadline:
            if worker.poll() is not None:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        worker_alive = worker.poll() is None
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
    consumed = _read_log(log_path)
    indexes = [entry["index"] for entry in consumed]
    latencies = sorted(entry["latency"] for entry in consumed)
    log_text = worker_log.read_text(errors="replace")
    errors = [line for line in log_text.splitlines()
              if any(marker in line for marker in ERROR_MARKERS)]
    return {
        "seconds": seconds,
        "elapsed_seconds": round(elapsed, 1),
        "publishers": publishers,
        "published": published,
        "publisher_failures": publisher_failures,
        "consumed": len(set(indexes)),
        "lost": published - len(set(indexes)),
        "duplicates": len(indexes) - len(set(indexes)),
        "worker_alive_at_end": worker_alive,
        "worker_errors": len(errors),
        "first_errors": errors[:5],
        "tasks_per_second": round(len(indexes) / elapsed, 1) if elapsed else 0.0,
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "latency_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "broker_rows_left": _broker_rows(var_dir / "broker.sqlite3"),
    }


def _broker_rows(path: Path) -> int | None:
    import sqlite3

    if not path.exists():
        return None
    with sqlite3.connect(path) as connection:
        try:
            return connection.execute("SELECT count(*) FROM kombu_message").fetchone()[0]
        except sqlite3.OperationalError:
            return None


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def healthy(result: dict) -> bool:
    return (result["lost"] == 0 and result["duplicates"] == 0 and result["worker_errors"] == 0
            and result["publisher_failures"] == 0 and result["worker_alive_at_end"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--rate", type=float, default=3.0, help="tasks a second per publisher")
    parser.add_argument("--quick", action="store_true", help="30 seconds")
    parser.add_argument("--var-dir", default="", help="keep the run's files here")
    parser.add_argument("--publish-first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--publish-count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.publish_count is not None:
        publish(first_index=options.publish_first, count=options.publish_count,
                rate=options.rate, log_path=options.log)
        return 0
    seconds = 30.0 if options.quick else options.seconds
    if options.var_dir:
        var_dir = Path(options.var_dir)
        var_dir.mkdir(parents=True, exist_ok=True)
        result = soak(seconds=seconds, publishers=options.publishers, rate=options.rate,
                      var_dir=var_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="gateway-soak-") as directory:
            result = soak(seconds=seconds, publishers=options.publishers, rate=options.rate,
                          var_dir=Path(directory))
    _say(f"embedded broker soak: {result['published']} tasks from {result['publishers']} "
          f"publishers over {seconds:.0f}s ({result['tasks_per_second']} consumed/s)")
    _say(f"  consumed {result['consumed']}, lost {result['lost']}, duplicated "
          f"{result['duplicates']}, worker errors {result['worker_errors']}, worker alive "
          f"{result['worker_alive_at_end']}")
    _say(f"  latency p50 {result['latency_p50_ms']} ms, max {result['latency_max_ms']} ms; "
          f"rows left in the broker {result['broker_rows_left']}")
    for line in result["first_errors"]:
        _say(f"  ! {line}")
    _say(json.dumps(result))
    return 0 if healthy(result) else 1


if __name__ == "__main__":
    sys.exit(main())
