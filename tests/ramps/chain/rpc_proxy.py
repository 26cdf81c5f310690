"""A loopback JSON-RPC proxy in front of anvil that misbehaves on demand, as hosted nodes do.

Faults (attributes, changed by the test while the proxy runs):

* ``max_log_blocks``: an ``eth_getLogs`` spanning more blocks is refused with the message
  geth-style providers use ("query exceeds max block range ...").
* ``max_log_results``: an answer with more logs is refused ("query returned more than N
  results").
* ``slow_log_blocks``: an ``eth_getLogs`` spanning more blocks sleeps ``slow_seconds`` first
  (the client's timeout fires).
* ``fail_next``: the next N requests get an HTTP 502.
* ``lag_blocks``: ``eth_blockNumber`` answers that many blocks behind the real head.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FaultyRpcProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.max_log_blocks: int | None = None
        self.max_log_results: int | None = None
        self.slow_log_blocks: int | None = None
        self.slow_seconds = 1.5
        self.fail_next = 0
        self.lag_blocks = 0
        self.log_requests: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = proxy._handle(json.loads(body))
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultyRpcProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, request: dict) -> dict:
        return requests.post(self.upstream, json=request, timeout=10).json()

    def _handle(self, request: dict) -> tuple[int, dict]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return 502, {"error": "bad gateway"}
        method = request.get("method")
        if method == "eth_blockNumber" and self.lag_blocks:
            answer = self._forward(request)
            answer["result"] = hex(max(int(answer["result"], 16) - self.lag_blocks, 0))
            return 200, answer
        if method == "eth_getLogs":
            query = request["params"][0]
            first, last = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            span = last - first + 1
            self.log_requests.append((first, last))
            if self.max_log_blocks is not None and span > self.max_log_blocks:
                return 200, {"jsonrpc": "2.0", "id": request.get("id"), "error": {
                    "code": -32000,
                    "message": f"query exceeds max block range {self.max_log_blocks}"}}
            if self.slow_log_blocks is not None and span > self.slow_log_blocks:
                time.sleep(self.slow_seconds)
            answer = self._forward(request)
            if self.max_log_results is not None and len(answer.get("result", [])) > (
                    self.max_log_results):
                return 200, {"jsonrpc": "2.0", "id": request.get("id"), "error": {
                    "code": -32005,
                    "message": f"query returned more than {self.max_log_results} results"}}
            return 200, answer
        return 200, self._forward(request)
