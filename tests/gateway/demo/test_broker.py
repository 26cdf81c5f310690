"""The demo's embedded broker (gateway.demo.broker): every message delivered once, whole, across
processes; and a real Celery worker that keeps consuming under load (a short soak)."""

import json
import subprocess
import sys
import threading
from pathlib import Path

from kombu import Connection, Exchange, Queue

from gateway.demo import soak
from gateway.demo.broker import broker_url

ROOT = Path(__file__).resolve().parents[3]
TRANSPORT = "gateway.demo.broker:Transport"

PUBLISHER = """
import sys
from kombu import Connection, Exchange, Queue
url, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
exchange = Exchange("soak", type="direct")
queue = Queue("soak", exchange, routing_key="soak")
with Connection(url, transport="gateway.demo.broker:Transport") as connection:
    producer = connection.Producer()
    for index in range(first, first + count):
        producer.publish({"index": index, "padding": "x" * 2000}, exchange=exchange,
                         routing_key="soak", declare=[queue], serializer="json")
"""


def _queue():
    exchange = Exchange("soak", type="direct")
    return exchange, Queue("soak", exchange, routing_key="soak")


def test_messages_from_concurrent_processes_are_each_taken_once_and_then_gone(tmp_path):
    url = broker_url(tmp_path / "broker.sqlite3")
    exchange, queue = _queue()
    with Connection(url, transport=TRANSPORT) as connection:
        connection.Producer().publish({"index": -1}, exchange=exchange, routing_key="soak",
                                      declare=[queue], serializer="json")
    publishers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, url, str(n * 100), "100"],
                                   cwd=ROOT) for n in range(3)]
    taken: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume():
        try:
            with Connection(url, transport=TRANSPORT) as connection:
                simple = connection.SimpleQueue(queue)
                while not (done.is_set() and len(taken) >= 301):
                    try:
                        message = simple.get(timeout=0.5)
                    except simple.Empty:
                        if done.is_set():
                            return
                        continue
                    taken.append(message.payload["index"])
                    message.ack()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in consumers:
        thread.start()
    for publisher in publishers:
        assert publisher.wait(timeout=120) == 0
    done.set()
    for thread in consumers:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(taken) == [-1, *range(300)]
    rows = soak._broker_rows(tmp_path / "broker.sqlite3")
    assert rows == 0


def test_the_demo_settings_pick_the_embedded_broker(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings; import json; "
            "print(json.dumps([settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT]))")
    env = {**soak._env(tmp_path)}
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    url, transport = json.loads(found.stdout.strip().splitlines()[-1])
    assert url == f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert transport == TRANSPORT


def test_a_worker_keeps_consuming_from_the_embedded_broker_under_load(tmp_path):
    result = soak.soak(seconds=8, publishers=3, rate=10, var_dir=tmp_path, drain_timeout=60)
    assert result["published"] == 3 * 8 * 10
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["publisher_failures"] == 0, result
    assert result["worker_errors"] == 0, result["first_errors"]
    assert result["worker_alive_at_end"] is True
    assert result["broker_rows_left"] == 0
    assert soak.healthy(result) is True
