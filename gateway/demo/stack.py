"""Start and stop the demo's processes: sandbox simulators, web server, Celery worker and beat.

Every child writes to ``<var>/logs/<name>.log``; ``Stack.stop()`` ends them all (also on Ctrl-C).
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """A readable reason the stack could not start."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(count: int = 7, low: int = 20000, high: int = 40000) -> int:
    """A base port N such that N..N+count-1 are all free right now (for tests and scripts)."""
    import random

    for _ in range(200):
        base = random.randrange(low, high)
        if all(port_is_free(base + offset) for offset in range(count)):
            return base
    raise StackError("no free range of ports found")


def ports_check(ports: dict[str, int]) -> None:
    busy = [f"{port} ({name})" for name, port in ports.items() if not port_is_free(port)]
    if busy:
        raise StackError(
            "port already in use: " + ", ".join(busy)
            + ". Stop what uses it, or pick other ports with --port-base N (or DEMO_PORT_BASE)."
        )


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path


@dataclass
class Stack:
    var_dir: Path
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, command: list[str]) -> Child:
        logs = self.var_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise StackError(f"{child.name} exited with code {child.process.returncode}; "
                                 f"its log ({child.log_path}) ends with:\n{log_tail(child)}")

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=5)
        self.children.clear()


def log_tail(child: Child, lines: int = 15) -> str:
    try:
        return "\n".join(child.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def python() -> str:
    return sys.executable


def sandbox_start(stack: Stack, *, ports: dict[str, int], timeout: float = 120) -> dict:
    sandbox_spawn(stack, ports=ports)
    return sandbox_wait(stack, timeout=timeout)


def sandbox_spawn(stack: Stack, *, ports: dict[str, int]) -> None:
    """Start the sandbox simulators without waiting for them (``sandbox_wait`` does): a caller
    can set up other things while they import."""
    ready = stack.var_dir / "sandbox.json"
    ready.unlink(missing_ok=True)
    stack.spawn("sandbox", [python(), "manage.py", "sandbox",
                            "--exchange-port", str(ports["exchange"]),
                            "--daraja-port", str(ports["daraja"]),
                            "--momo-port", str(ports["momo"]),
                            "--bitso-port", str(ports["bitso"]),
                            "--ready-file", str(ready)])


def sandbox_wait(stack: Stack, *, timeout: float = 120) -> dict:
    """The sandboxes' addresses and credentials, once ``sandbox_spawn``'s process is ready."""
    ready = stack.var_dir / "sandbox.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        if ready.exists() and ready.stat().st_size > 0:
            try:
                return json.loads(ready.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.1)
    raise StackError(f"the sandbox simulators did not start within {timeout:.0f}s")


def web_start(stack: Stack, *, port: int, timeout: float = 120, name: str = "web",
              workers: int = 2, ready_path: str = "/api/schema/",
              ready_statuses: tuple[int, ...] = (200,)) -> str:
    """Start gunicorn and wait until ``ready_path`` answers with one of ``ready_statuses`` (a
    busy machine takes its time: each worker imports the whole project, and the schema is
    built at its first request). A caller that only needs the project loaded can ask for a
    cheaper page (an unauthenticated API call answers 401 at once)."""
    stack.spawn(name, [python(), "-m", "gunicorn", "gateway.wsgi", "--bind",
                        f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4",
                        "--timeout", "60", "--access-logfile", "-",
                        # keeps the rails' callback secrets out of the access log
                        "--logger-class", "gateway.common.log_redaction.RedactingGunicornLogger"])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if requests.get(base + ready_path, timeout=15).status_code in ready_statuses:
                return base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise StackError(f"the web server did not answer on {base} within {timeout:.0f}s")


def worker_start(stack: Stack, *, name: str = "worker") -> None:
    stack.spawn(name, [python(), "-m", "celery", "-A", "gateway", "worker",
                       "--loglevel", "INFO", "--concurrency", "2", "--hostname",
                       f"demo-worker-{os.getpid()}@%h"])


def beat_start(stack: Stack, *, name: str = "beat") -> None:
    stack.spawn(name, [python(), "-m", "celery", "-A", "gateway", "beat", "--loglevel",
                       "INFO", "--schedule", str(stack.var_dir / "celerybeat-schedule")])


def workers_start(stack: Stack) -> None:
    """The Celery worker and beat; each can also be (re)started alone (bench.faults does)."""
    worker_start(stack)
    beat_start(stack)
