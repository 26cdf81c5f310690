"""Keep payout callback secrets out of logs (invariant 8).

A rail's callback URL carries its secret (``/callbacks/payouts/<rail>/<secret>/result``), and a
URL easily ends up in a log line: gunicorn's access log, Django's "Bad Request: <path>", a
sandbox's delivery warning. ``SecretPathFilter`` (on the console handler in settings) and
``RedactingGunicornLogger`` (``gunicorn --logger-class``) replace the secret with ``***``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger

_SECRET_IN_CALLBACK_PATH = re.compile(r"(/callbacks/payouts/[^/\s\"']+/)[^/\s\"'?]+(?=/)")
REDACTED = "***"


def redact(text: str) -> str:
    return _SECRET_IN_CALLBACK_PATH.sub(rf"\g<1>{REDACTED}", text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class SecretPathFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        return True


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with callback secrets taken out of the access log's request line."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if key in atoms:
                atoms[key] = _redact_value(atoms[key])
        return atoms
