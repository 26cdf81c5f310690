"""Payout throughput through each sandbox with 2 worker processes, and the time from an attempt
being recorded ("approved") to its request reaching the sandbox.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gateway_pay2 \
    E2E_BROKER_URL=redis://127.0.0.1:6379/9 python -m bench.payouts [--quick]

Baseline, measured in the same run: the same payment requests POSTed straight to the sandbox
from 2 threads (no database, no broker, no claim). The ratio says what the exactly-once
machinery (row claim committed before the call, the answer recorded after) costs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from bench.common import arguments, django_setup, percentile, report, summary_ms

ROOT = Path(__file__).resolve().parents[1]


def _start_worker(broker: str, queue: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "CELERY_BROKER_URL": broker, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool=prefork",
             "--concurrency=2", "-Q", queue, "-n", f"{queue}@bench", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(log: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while b"ready" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("worker did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.1)


def _rails(daraja, momo):
    from ramps.payouts.models import Rail

    suffix = uuid.uuid4().hex[:6]
    return {
        "daraja": (Rail.objects.create(
            code=f"bench-mpesa-{suffix}", kind=Rail.Kind.MPESA_B2C, country="KE", currency="KES",
            base_url=daraja.base_url, credentials=daraja.credentials(), amount_exponent=0,
            min_amount=Decimal("10"), max_amount=Decimal("150000")), "+254708374140", "KES",
            Decimal("100")),
        "momo": (Rail.objects.create(
            code=f"bench-momo-{suffix}", kind=Rail.Kind.MOMO_DISBURSEMENT, country="UG",
            currency="UGX", base_url=momo.base_url, credentials=momo.credentials(),
            min_amount=Decimal("500"), max_amount=Decimal("5000000")), "+256772123450", "UGX",
            Decimal("1000")),
    }


def _through_workers(publish, rail, msisdn, currency, amount, sandbox, count):
    """Record ``count`` attempts, queue their sends, wait until the sandbox has them all."""
    from ramps.payouts.models import PayoutAttempt
    from ramps.payouts.services import payout_attempt_create

    attempts = [payout_attempt_create(rail=rail, owner_reference=f"bench_{uuid.uuid4().hex}",
                                      amount=amount, currency=currency, recipient_msisdn=msisdn,
                                      remarks="Benchmark payout") for _ in range(count)]
    url = sandbox.base_url + "/_sandbox/ignored"
    started = time.time()
    approved = {}
    for attempt in attempts:
        approved[attempt.reference] = time.time()
        publish(attempt.pk, url, url)
    references = set(approved)
    last_report = 0.0
    while True:
        with sandbox.lock:
            arrived = {p["reference"]: p["paid_at"] for p in sandbox.payments
                       if p["reference"] in references}
        if time.time() - last_report > 2:
            print(f"  {rail.code}: {len(arrived)}/{count} requests reached the sandbox",
                  flush=True)
            last_report = time.time()
        if len(arrived) == count:
            break
        if time.time() - started > 300:
            raise SystemExit(f"{rail.code}: only {len(arrived)}/{count} arrived in 300 s")
        time.sleep(0.05)
    while PayoutAttempt.objects.filter(pk__in=[a.pk for a in attempts],
                                       status=PayoutAttempt.Status.SUBMITTED).count() < count:
        time.sleep(0.05)
    elapsed = time.time() - started
    latencies = [(arrived[ref] - approved[ref]) * 1000 for ref in references]
    return count / elapsed, latencies


def _raw_posts(rail, msisdn, currency, amount, sandbox, count):
    """The baseline: the provider's own request, straight from 2 threads, timed per request."""
    from ramps.payouts.models import PayoutAttempt
    from ramps.payouts.rails import rail_client

    client = rail_client(rail)
    url = sandbox.base_url + "/_sandbox/ignored"

    def one(_index: int) -> float:
        attempt = PayoutAttempt(rail=rail, reference=str(uuid.uuid4()), amount=amount,
                                currency=currency, recipient_msisdn=msisdn,
                                remarks="Benchmark baseline")
        start = time.perf_counter()
        outcome = client.submit(attempt, result_url=url, timeout_url=url)
        assert outcome.status == "accepted", outcome
        return (time.perf_counter() - start) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        latencies = list(pool.map(one, range(count)))
    return count / (time.perf_counter() - started), latencies


def main() -> None:
    args = arguments("Payouts per second through the Daraja and MoMo sandboxes, 2 workers.")
    django_setup()
    from celery import Celery
    from django.core.management import call_command

    from ramps.sandbox.daraja import DarajaSandbox
    from ramps.sandbox.momo import MomoSandbox

    count = 60 if args.quick else 400
    broker = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/9")
    call_command("migrate", verbosity=0)
    daraja = DarajaSandbox(callback_delay=0.01).start()
    momo = MomoSandbox(callback_delay=0.01).start()
    queue = f"bench-payouts-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp()) / "worker.log"
    worker = _start_worker(broker, queue, log)
    publisher = Celery("bench-publisher", set_as_current=False)
    figures: dict = {"payouts_per_rail": count}
    try:
        _wait_ready(log, worker)
        with publisher.connection_for_write(broker) as connection:
            def publish(*task_args):
                publisher.send_task("ramps.payouts.tasks.payout_attempt_send",
                                    args=list(task_args), queue=queue, connection=connection)

            all_latencies: list[float] = []
            rates, raw_rates, raw_latencies = [], [], []
            for name, (rail, msisdn, currency, amount) in _rails(daraja, momo).items():
                sandbox = daraja if name == "daraja" else momo
                # Warm-up: tokens fetched and connections made in both worker processes.
                _through_workers(publish, rail, msisdn, currency, amount, sandbox, 4)
                print(f"{name}: {count} payouts through 2 worker processes...", flush=True)
                rate, latencies = _through_workers(publish, rail, msisdn, currency, amount,
                                                   sandbox, count)
                raw_rate, raw = _raw_posts(rail, msisdn, currency, amount, sandbox, count)
                figures[f"{name}_payouts_per_s"] = round(rate, 1)
                figures[f"{name}_raw_posts_per_s"] = round(raw_rate, 1)
                figures[f"{name}_approved_to_request_ms"] = summary_ms(latencies)
                figures[f"{name}_raw_post_ms"] = summary_ms(raw)
                rates.append(rate)
                raw_rates.append(raw_rate)
                all_latencies += latencies
                raw_latencies += raw
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        daraja.stop()
        momo.stop()
    figures["payouts_per_s"] = round(min(rates), 1)
    figures["raw_posts_per_s"] = round(min(raw_rates), 1)
    figures["throughput_ratio_vs_raw"] = round(min(rates) / min(raw_rates), 3)
    figures["approved_to_request_ms_p50"] = round(percentile(all_latencies, 0.5), 3)
    figures["approved_to_request_ms_p99"] = round(percentile(all_latencies, 0.99), 3)
    figures["raw_post_ms_p50"] = round(percentile(raw_latencies, 0.5), 3)
    figures["latency_ratio_p50_vs_raw"] = round(
        figures["approved_to_request_ms_p50"] / figures["raw_post_ms_p50"], 2)
    report(figures)


if __name__ == "__main__":
    main()
