"""A real local HTTP receiver (stdlib http.server in a thread on 127.0.0.1) that records every
request and answers from a script of status codes, and a Celery worker on the webhook queue."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.webhooks import ssrf
from tests.workers import threads_worker


@pytest.fixture
def public_dns(monkeypatch):
    """hook.example.com resolves to a public address (the registration check needs no network)."""

    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake)


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[int] = []  # status codes to answer, in order; then 200
        self.headers_to_send: dict[str, str] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    code = receiver.script.pop(0) if receiver.script else 200
                self.send_response(code)
                for name, value in receiver.headers_to_send.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    """The local receiver; private addresses are allowed for the test using it (only)."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 0.2
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2.0
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def webhook_worker():
    """A real Celery worker (threads) on the webhook and default queues."""
    with threads_worker(concurrency=4, queues=["webhook", "default"], shutdown_timeout=30):
        yield
