import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gateway.demo.stack import free_port_base
from ramps.chain.devchain import ToolMissingError

ROOT = Path(__file__).resolve().parents[3]


def test_a_busy_port_stops_the_demo_with_a_one_line_reason(tmp_path):
    base = free_port_base()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 3))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "manage.py", "demo", "--once", "--port-base", str(base)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "GATEWAY_DEMO": "1", "GATEWAY_VAR_DIR": str(tmp_path),
                 "DJANGO_SETTINGS_MODULE": "gateway.settings"},
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"port already in use: {base + 3} (daraja)" in result.stderr
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_a_missing_tool_stops_the_demo_before_anything_starts(monkeypatch):
    def missing():
        raise ToolMissingError("anvil not found: run `npm install` (make demo does it)")

    monkeypatch.setattr("gateway.demo.management.commands.demo.anvil_binary", missing)
    with pytest.raises(CommandError, match="anvil not found: run `npm install`"):
        call_command("demo", "--once", "--port-base", str(free_port_base()))
