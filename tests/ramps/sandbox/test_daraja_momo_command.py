"""The ``sandbox`` management command and ``ramps.sandbox.server``."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ramps.sandbox.server import SandboxPortInUseError, sandboxes_start, sandboxes_stop

ROOT = Path(__file__).resolve().parents[3]


def _environment():
    # The command must start without a database: point DATABASE_URL at nothing reachable.
    return {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "DJANGO_SECRET_KEY": "x", "FIELD_ENCRYPTION_KEYS": os.environ.get(
                "FIELD_ENCRYPTION_KEYS", "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy1mb3ItZmVybiE=")}


def test_start_all_on_free_ports():
    simulators = sandboxes_start(ports={"exchange": 0, "daraja": 0, "momo": 0})
    try:
        assert {"daraja", "momo"} <= set(simulators)
        for name in ("daraja", "momo"):
            paid = requests.get(f"{simulators[name].base_url}/_sandbox/payments", timeout=5)
            assert paid.json() == {"payments": []}
    finally:
        sandboxes_stop(simulators)


def test_port_in_use_raises_and_leaves_nothing_running():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxPortInUseError, match=f"127.0.0.1:{port} is already in use"):
            sandboxes_start(ports={"exchange": 0, "daraja": 0, "momo": port})


def test_command_writes_ready_file_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sandbox", "--exchange-port", "0", "--daraja-port", "0",
         "--momo-port", "0", "--callback-delay", "0.1", "--json", "--ready-file", str(ready)],
        cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        description = json.loads(ready.read_text())
        assert description["daraja"]["credentials"]["certificate_pem"].startswith("-----BEGIN")
        assert description["momo"]["credentials"]["target_environment"] == "sandbox"
        state = requests.get(f"{description['daraja']['base_url']}/_sandbox/control", timeout=5)
        assert state.json()["callback_delay"] == 0.1
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    printed = json.loads(stdout.splitlines()[0])
    assert printed == description
    assert "Traceback" not in stderr


def test_command_port_in_use_exits_2_without_traceback():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "sandbox", "--exchange-port", "0",
             "--daraja-port", str(port), "--momo-port", "0"],
            cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
