"""Tasks of the demo itself: only the broker soak's probe (``python -m gateway.demo.soak``)."""

import json
import os
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="gateway.demo.tasks.broker_soak_probe", acks_late=True)
def broker_soak_probe(index: int, sent_at: float, log_path: str, padding: str = "") -> int:
    """Record that message ``index`` arrived (one appended line, so concurrent worker
    processes never interleave) and how long it took."""
    line = json.dumps({"index": index, "latency": time.time() - sent_at,
                       "pid": os.getpid()}) + "\n"
    with Path(log_path).open("a", encoding="utf-8") as log:
        log.write(line)
    return index
