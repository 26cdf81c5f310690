"""``manage.py sandbox``: run the exchange, Daraja and MoMo simulators until interrupted."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from ramps.sandbox.server import (
    DEFAULT_HOST,
    DEFAULT_PORTS,
    SandboxPortInUseError,
    sandboxes_describe,
    sandboxes_start,
    sandboxes_stop,
)


def _write_atomically(path: Path, text: str) -> None:
    """A reader polling for the file never sees it half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


class Command(BaseCommand):
    help = "Start the loopback simulators (exchange, Daraja, MoMo) and run until SIGINT/SIGTERM."
    # The simulators need neither the database nor the project's checks.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--host", default=DEFAULT_HOST)
        parser.add_argument("--exchange-port", type=int, default=DEFAULT_PORTS["exchange"])
        parser.add_argument("--bitso-port", type=int, default=DEFAULT_PORTS["bitso"])
        parser.add_argument("--daraja-port", type=int, default=DEFAULT_PORTS["daraja"])
        parser.add_argument("--momo-port", type=int, default=DEFAULT_PORTS["momo"])
        parser.add_argument("--callback-delay", type=float, default=None,
                            help="Seconds before an asynchronous callback is sent (default 0.3).")
        parser.add_argument("--ready-file", default=None,
                            help="Write the JSON description here once every simulator listens.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        ports = {"exchange": options["exchange_port"], "bitso": options["bitso_port"],
                 "daraja": options["daraja_port"],
                 "momo": options["momo_port"]}
        try:
            simulators = sandboxes_start(host=options["host"], ports=ports,
                                         callback_delay=options["callback_delay"])
        except SandboxPortInUseError as exc:
            self.stderr.write(f"sandbox: {exc.strerror}")
            sys.exit(2)
        except OSError as exc:
            self.stderr.write(f"sandbox: cannot start: {exc.strerror or exc}")
            sys.exit(2)
        stop = threading.Event()
        previous = {number: signal.signal(number, lambda *_: stop.set())
                    for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            description = sandboxes_describe(simulators)
            text = json.dumps(description, indent=None if options["json"] else 2)
            if options["json"]:
                self.stdout.write(text)
            else:
                self.stdout.write("Sandboxes running (Ctrl-C to stop):")
                for name, entry in description.items():
                    self.stdout.write(f"\n[{name}] {entry['base_url']}")
                    for key, value in entry["credentials"].items():
                        shown = "(PEM, see --json)" if key == "certificate_pem" else value
                        self.stdout.write(f"  {key}: {shown}")
            self.stdout.flush()
            if options["ready_file"]:
                _write_atomically(Path(options["ready_file"]), json.dumps(description))
            while not stop.wait(0.5):
                pass
        finally:
            sandboxes_stop(simulators)
            for number, handler in previous.items():
                signal.signal(number, handler)
        self.stdout.write("Sandboxes stopped.")
