"""A real webhook receiver over HTTP in a thread that verifies every request on its own,
with the ``standardwebhooks`` package (not the sending code), and can go down and up."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified: Any  # the parsed payload, or the verification error
    at: float


class WebhookReceiver:
    """Answers ``status`` (200 by default) after verifying; ``hold`` blocks requests."""

    def __init__(self, secret: str, host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.host = host
        self.tls = tls
        self.received: list[Received] = []
        self.status = 200
        self.hold = threading.Event()  # while set, requests wait (a slow receiver)
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/hooks/okr"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verified: Any = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError as error:
                    verified = error
                with receiver._lock:
                    receiver.received.append(Received(headers.get("webhook-id", ""), headers,
                                                      body, verified, time.monotonic()))
                if receiver.hold.is_set():
                    receiver.released.wait(30)
                ok = not isinstance(verified, Exception)
                self.send_response(receiver.status if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on the port any more (connections are refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def payloads(self) -> list[Any]:
        with self._lock:
            return [r.verified for r in self.received]
