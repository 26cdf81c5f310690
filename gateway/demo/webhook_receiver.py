"""A partner's webhook endpoint, as a partner would write it: verify, dedup by id, record."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    def __init__(self, *, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self.duplicates = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                message_id = self.headers.get("webhook-id", "")
                with receiver._lock:
                    if message_id in receiver._seen:
                        receiver.duplicates += 1
                    else:
                        receiver._seen.add(message_id)
                        receiver.events.append({"id": message_id, **payload})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks"

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def statuses_for(self, transfer_id: str) -> list[str]:
        with self._lock:
            return [e["data"]["status"] for e in self.events
                    if e.get("data", {}).get("id") == transfer_id]

    def dump(self) -> str:
        with self._lock:
            return json.dumps(self.events, indent=2)
