"""The Celery app the worker-level payout tests start as a separate process.

It is the gateway's own app; with ``PAYOUT_E2E_PAUSE`` set, the worker stops dead at one point
of a payout so that the test can SIGKILL it exactly there:

* ``before_call``: the claim (status ``unknown``) is committed, the request has not left;
* ``after_call``: the provider has answered, the answer is not recorded.

The worker writes ``PAYOUT_E2E_MARKER`` when it reaches the point, then sleeps.
"""

import os
import time
from pathlib import Path

from celery.signals import worker_ready

from gateway.celery import app

__all__ = ["app"]


@worker_ready.connect
def _install_pause(**_kwargs) -> None:
    _pause()
    if os.environ.get("PAYOUT_E2E_READY"):
        Path(os.environ["PAYOUT_E2E_READY"]).write_text("ready")


def _pause() -> None:
    pause = os.environ.get("PAYOUT_E2E_PAUSE", "")
    if not pause:
        return
    from ramps.payouts import services

    real_rail_client = services.rail_client
    marker = Path(os.environ["PAYOUT_E2E_MARKER"])

    def stop_here() -> None:
        marker.write_text(pause)
        time.sleep(3600)

    class Paused:
        def __init__(self, client) -> None:
            self._client = client

        def __getattr__(self, name):
            return getattr(self._client, name)

        def submit(self, attempt, **urls):
            if pause == "before_call":
                stop_here()
            outcome = self._client.submit(attempt, **urls)
            if pause == "after_call":
                stop_here()
            return outcome

    services.rail_client = lambda rail: Paused(real_rail_client(rail))
