"""Webhook delivery under a burst: deliveries per second, lag from event to receipt, and what a
slow and a failing endpoint do to the healthy ones.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gateway_wh \
    E2E_BROKER_URL=redis://127.0.0.1:6379/9 python -m bench.webhooks [--quick]

Deliveries go through a real Celery worker process started here (prefork, 2 processes, as the
compose file runs it, against Redis), i.e. the same task and sender threads production runs.
The receivers run in their own process (so the producer does not share their interpreter) and
verify every message with the ``standardwebhooks`` package: two healthy ones, one that answers
after ``SLOW_SECONDS``, one that answers 500.

One partner, one event at a time in its own transaction (as transitions write them), spread
over 200 transfers. Two bursts: the baseline with only the healthy endpoints enabled, then the
same burst with the slow and the failing endpoint enabled as well. Lag is the time from the
event's timestamp (written in its transaction) to its arrival at a healthy receiver. The ratio
of the two bursts' p99 lags is the slow endpoint's effect on the others. Goal: p99 < 2 s for
2,000 events with the slow receiver present.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import arguments, django_setup, percentile, report

ROOT = Path(__file__).resolve().parents[1]
SLOW_SECONDS = 2.0
TRANSFERS = 200


def _receivers_run(secrets: dict[str, str], ports: multiprocessing.Queue,
                   arrivals: multiprocessing.Queue, stop) -> None:
    """Child process: one HTTP server per receiver name; every verified arrival is reported
    as (name, webhook-id, event timestamp, arrival time)."""
    import threading
    from datetime import datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    servers = []
    for name, secret in secrets.items():
        verifier = Webhook(secret)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            receiver_name = name
            webhook = verifier

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                try:
                    payload = self.webhook.verify(body, dict(self.headers.items()))
                    status = 500 if self.receiver_name == "failing" else 204
                except WebhookVerificationError:
                    payload, status = None, 401
                if self.receiver_name == "slow":
                    time.sleep(SLOW_SECONDS)
                if payload is not None and status == 204:
                    sent = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
                    arrivals.put((self.receiver_name, self.headers["webhook-id"],
                                  sent.timestamp(), arrived))
                elif payload is None:
                    arrivals.put(("rejected", self.headers.get("webhook-id", ""), 0.0, arrived))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ports.put((name, server.server_address[1]))
    stop.wait()
    for server in servers:
        server.shutdown()


def _start_worker(broker: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "CELERY_BROKER_URL": broker, "PYTHONPATH": str(ROOT),
           "WEBHOOK_ALLOW_PRIVATE_URLS": "1", "WEBHOOK_REQUIRE_HTTPS": "0",
           "OUTBOUND_HTTP_TIMEOUT_SECONDS": "5"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool=prefork",
             "--concurrency=2", "-n", f"bench-webhooks-{uuid.uuid4().hex[:6]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(log: Path, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while b"ready" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("worker did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.1)


def _burst(*, partner, count: int, arrivals: multiprocessing.Queue, expected_names: set[str],
           collected: dict, timeout: float) -> tuple[float, float, list[float]]:
    """Write ``count`` events, one transaction each; wait for every healthy arrival. Returns
    (seconds to write, seconds until the last healthy arrival, lags in seconds)."""
    from gateway.transfers.webhook_schema import _TRANSFER
    from gateway.webhooks.services import webhook_event_enqueue

    base = int(time.time() * 1000) % 10**9 * 1000
    started = time.time()
    for n in range(count):
        webhook_event_enqueue(partner_id=partner.pk, event_type="transfer.funded",
                              transfer_id=base + n % TRANSFERS, data={**_TRANSFER, "n": n})
    written = time.time() - started
    wanted = count * len(expected_names)
    lags: list[float] = []
    deadline = time.time() + timeout
    last_report = time.time()
    while len(lags) < wanted and time.time() < deadline:
        try:
            name, message_id, sent_at, arrived = arrivals.get(timeout=0.2)
        except queue.Empty:
            continue
        collected.setdefault(name, []).append((message_id, sent_at, arrived))
        if name in expected_names:
            lags.append(arrived - sent_at)
        if time.time() - last_report > 2:
            print(f"  {len(lags)}/{wanted} healthy deliveries arrived", flush=True)
            last_report = time.time()
    if len(lags) < wanted:
        raise SystemExit(f"only {len(lags)}/{wanted} healthy deliveries arrived in {timeout} s")
    return written, time.time() - started, lags


def main() -> None:
    args = arguments("Webhook deliveries per second and lag under a burst, with a slow and a "
                     "failing receiver present.")
    broker = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/9")
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["WEBHOOK_ALLOW_PRIVATE_URLS"] = "1"
    os.environ["WEBHOOK_REQUIRE_HTTPS"] = "0"
    django_setup()
    import redis
    from django.core.management import call_command

    from gateway.webhooks.models import WebhookDelivery, WebhookEndpoint
    from tests.gateway.partners.factories import make_partner

    count = 60 if args.quick else 2000
    call_command("migrate", verbosity=0)
    redis.Redis.from_url(broker).flushdb()
    partner, _ = make_partner(f"bench-webhooks-{uuid.uuid4().hex[:6]}")
    names = ("healthy-1", "healthy-2", "slow", "failing")
    endpoints = {name: WebhookEndpoint.objects.create(partner=partner, url="http://127.0.0.1:9/",
                                                      is_active=name.startswith("healthy"))
                 for name in names}
    context = multiprocessing.get_context("spawn")
    ports, arrivals, stop = context.Queue(), context.Queue(), context.Event()
    receivers = context.Process(target=_receivers_run, daemon=True, args=(
        {name: endpoint.secret for name, endpoint in endpoints.items()}, ports, arrivals, stop))
    receivers.start()
    for _ in names:
        name, port = ports.get(timeout=30)
        WebhookEndpoint.objects.filter(pk=endpoints[name].pk).update(
            url=f"http://127.0.0.1:{port}/hooks")
    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = _start_worker(broker, log)
    healthy = {"healthy-1", "healthy-2"}
    collected: dict[str, list] = {}
    figures: dict = {"events": count, "delivery": "real Celery worker (prefork x2, "
                     "sender threads), Redis broker", "slow_receiver_seconds": SLOW_SECONDS}
    try:
        _wait_ready(log, worker)
        _burst(partner=partner, count=10, arrivals=arrivals, expected_names=healthy,
               collected={}, timeout=60)  # warm-up: connections and sessions made
        print(f"baseline: {count} events to 2 healthy receivers...", flush=True)
        written, elapsed, base_lags = _burst(partner=partner, count=count, arrivals=arrivals,
                                             expected_names=healthy, collected={}, timeout=1200)
        figures["baseline_events_written_per_s"] = round(count / written, 1)
        figures["baseline_deliveries_per_s"] = round(2 * count / elapsed, 1)
        figures["baseline_lag_p50_s"] = round(percentile(base_lags, 0.5), 3)
        figures["baseline_lag_p99_s"] = round(percentile(base_lags, 0.99), 3)

        WebhookEndpoint.objects.filter(pk__in=[endpoints["slow"].pk,
                                               endpoints["failing"].pk]).update(is_active=True)
        print(f"mixed: {count} events to 2 healthy, 1 slow ({SLOW_SECONDS} s) and 1 failing "
              f"receiver...", flush=True)
        written, elapsed, lags = _burst(partner=partner, count=count, arrivals=arrivals,
                                        expected_names=healthy, collected=collected,
                                        timeout=1200)
        figures["events_written_per_s"] = round(count / written, 1)
        figures["healthy_deliveries_per_s"] = round(2 * count / elapsed, 1)
        figures["lag_p50_s"] = round(percentile(lags, 0.5), 3)
        figures["lag_p99_s"] = round(percentile(lags, 0.99), 3)
        figures["lag_max_s"] = round(max(lags), 3)
        figures["slow_endpoint_effect_p99_ratio"] = round(
            figures["lag_p99_s"] / figures["baseline_lag_p99_s"], 2)
        slow_id, failing_id = endpoints["slow"].pk, endpoints["failing"].pk
        figures["slow_delivered_meanwhile"] = len(collected.get("slow", []))
        figures["slow_in_flight_limit"] = int(os.environ.get("WEBHOOK_ENDPOINT_MAX_IN_FLIGHT",
                                                             4))
        figures["failing_attempts_meanwhile"] = sum(WebhookDelivery.objects.filter(
            endpoint_id=failing_id).values_list("attempts", flat=True))
        figures["failing_retries_due_later"] = WebhookDelivery.objects.filter(
            endpoint_id=failing_id, status=WebhookDelivery.Status.PENDING,
            attempts__gte=1).count()
        figures["rejected_signatures"] = len(collected.get("rejected", []))
        figures["goal_lag_p99_under_2s"] = figures["lag_p99_s"] < 2.0
        WebhookEndpoint.objects.filter(pk__in=[slow_id, failing_id]).update(is_active=False)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        stop.set()
        receivers.join(timeout=10)
        if receivers.is_alive():
            receivers.terminate()
    report(figures)


if __name__ == "__main__":
    main()
