"""A partner's receiver on loopback: verifies each message with the ``standardwebhooks`` package
and the secrets it is told, records it, and answers what the test scripts."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.webhooks.models import WebhookEndpoint
from tests.gateway.partners.factories import make_partner


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict | None  # None when no secret verified it

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[tuple[int, bytes]] = []
        self.secrets: list[str] = []
        self.delay = 0.0
        self.during: Callable[[], None] | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                payload = None
                for secret in receiver.secrets:
                    try:
                        payload = Webhook(secret).verify(body, headers)
                        break
                    except WebhookVerificationError:
                        continue
                with receiver.lock:
                    receiver.requests.append(Received(self.path, headers, body, payload))
                    reply = receiver.replies.pop(0) if receiver.replies else None
                if receiver.during is not None:
                    receiver.during()
                time.sleep(receiver.delay)
                status, text = reply or ((204, b"") if payload is not None else (401, b"bad sig"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format, *args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def reply(self, status: int, text: bytes = b"") -> None:
        self.replies.append((status, text))

    def verified(self) -> list[dict]:
        return [request.payload for request in self.requests if request.payload is not None]

    def message_ids(self) -> list[str]:
        return [request.message_id for request in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The receivers are on loopback; the tests of the address rules turn this off again."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture
def partner(db):
    return make_partner()[0]


@pytest.fixture
def endpoint(receiver, partner):
    endpoint = WebhookEndpoint.objects.create(partner=partner, url=receiver.url())
    receiver.secrets.append(endpoint.secret)
    return endpoint


def body_json(request: Received) -> dict:
    return json.loads(request.body)
