"""The crash from the issue, against a real gunicorn: 300 KB of nested brackets used to kill a
worker with SIGSEGV (a dependency had raised the recursion limit to 100000). Now it is a 400 and
the same worker serves the next request."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.demo.stack import free_port_base

ROOT = Path(__file__).resolve().parents[3]
DEEP = b"[" * 150_000 + b"]" * 150_000


def test_the_premise_deep_json_segfaults_python_under_the_raised_limit():
    crashed = subprocess.run(
        [sys.executable, "-c", "import sys, json; sys.setrecursionlimit(100000); "
                               "json.loads('[' * 150000 + ']' * 150000)"],
        capture_output=True, timeout=60)
    assert crashed.returncode == -11  # SIGSEGV


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port_base(count=1)
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "gateway.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "4", "--timeout", "60", "--access-logfile", "-",
             "--logger-class", "gateway.common.log_redaction.RedactingGunicornLogger"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(f"{base}/no/such/page", timeout=10)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "gunicorn did not start:\n" + log.read_text()
                time.sleep(0.2)
        yield base, log, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_deeply_nested_bodies_get_400_and_the_worker_survives(gunicorn):
    base, log, process = gunicorn
    for path in ("/api/v1/quotes", "/callbacks/payouts/mpesa-ke/Secret-In-Url/result",
                 "/api/v1/quotes"):
        response = requests.post(base + path, data=DEEP, timeout=30,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["type"] == "/problems/json-too-deep"
    response = requests.post(base + "/api/v1/quotes", data=b"[" * 40 + b"]" * 40, timeout=30,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 401  # within the bound: on to the view, which wants a key
    assert process.poll() is None
    text = log.read_text()
    assert len(re.findall(r"Booting worker with pid", text)) == 1, text
    assert "SIGSEGV" not in text
    assert "exited" not in text
    # The access log has the request, without the secret in its URL.
    assert "/callbacks/payouts/mpesa-ke/***/result" in text
    assert "Secret-In-Url" not in text
