"""Worker-level payout fixtures: real Celery worker processes on Redis, sharing the test database,
with the Daraja and MoMo sandboxes and the gateway's callback endpoint served by ``live_server``.

Each worker consumes its own queue, so a test decides which process runs which task (a worker
that will be killed, or the one that recovers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis
from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT = 30.0


def wait_until(check: Callable[[], object], *, timeout: float = 15.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.05)


class Worker:
    def __init__(self, process: subprocess.Popen, queue: str, log: Path, marker: Path) -> None:
        self.process = process
        self.queue = queue
        self.log = log
        self.marker = marker
        self.base = 0

    def tasks_done(self) -> int:
        return self.log.read_bytes().count(b"succeeded in") - self.base

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, exactly like a machine losing power."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Workers:
    """Starts worker processes and publishes tasks to their queues."""

    def __init__(self, broker_url: str, database_url: str, tmp: Path) -> None:
        self.broker_url = broker_url
        self.database_url = database_url
        self.tmp = tmp
        self.started: list[Worker] = []
        self.publisher = Celery("payouts-e2e-publisher", set_as_current=False)
        self.publisher.conf.task_ignore_result = True

    def start(self, *, pause: str = "") -> Worker:
        name = uuid.uuid4().hex[:8]
        queue = f"payouts-e2e-{name}"
        ready = self.tmp / f"ready-{name}"
        marker = self.tmp / f"paused-{name}"
        log = self.tmp / f"worker-{name}.log"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
               "DATABASE_URL": self.database_url, "CELERY_BROKER_URL": self.broker_url,
               "PAYOUT_E2E_READY": str(ready), "PAYOUT_E2E_MARKER": str(marker),
               "PAYOUT_E2E_PAUSE": pause, "PYTHONPATH": str(ROOT)}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tests.payouts_e2e.worker_app", "worker",
                 "--pool=solo", "-Q", queue, "-n", f"{name}@payouts-e2e", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-l", "INFO"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        worker = Worker(process, queue, log, marker)
        self.started.append(worker)
        try:
            wait_until(lambda: ready.exists() or process.poll() is not None,
                       timeout=WORKER_START_TIMEOUT, what="the worker to start")
        finally:
            if process.poll() is not None:
                raise AssertionError("worker exited:\n" + log.read_text()[-3000:])
        return worker

    def send(self, worker: Worker, task: str, *args: object) -> None:
        # An explicit connection: the test run's CELERY_BROKER_URL (memory://) would win over
        # any configured broker URL.
        with self.publisher.connection_for_write(self.broker_url) as conn:
            self.publisher.send_task(task, args=list(args), queue=worker.queue, connection=conn)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()
        client = redis.Redis.from_url(self.broker_url)
        for worker in self.started:
            client.delete(worker.queue)


def _test_database_url() -> str:
    parsed = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gateway"))
    return urlunparse(parsed._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture(scope="session")
def _e2e_workers(django_db_setup, django_db_blocker, tmp_path_factory):
    broker = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/14")
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    started = Workers(broker, database_url, tmp_path_factory.mktemp("payout-workers"))
    yield started
    started.stop_all()


@pytest.fixture
def workers(transactional_db, _e2e_workers):
    """The session's workers; those a test starts itself (to kill them) end with the test."""
    before = len(_e2e_workers.started)
    yield _e2e_workers
    for extra in _e2e_workers.started[before:]:
        extra.stop()
    # The test database is flushed next: the killed workers' sessions must be gone.
    with connection.cursor() as cursor:
        wait_until(lambda: not _other_sessions(cursor), timeout=10, what="worker sessions to end")


@pytest.fixture(scope="session")
def _shared_worker(_e2e_workers):
    return _e2e_workers.start()


@pytest.fixture
def worker(workers, _shared_worker):
    """The worker that runs and recovers; ``tasks_done()`` counts from the start of the test."""
    _shared_worker.base = _shared_worker.log.read_bytes().count(b"succeeded in")
    return _shared_worker


def _other_sessions(cursor) -> int:
    cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND application_name NOT LIKE 'pytest%%' "
                   "AND backend_type = 'client backend' AND state <> 'idle'")
    return cursor.fetchone()[0]
