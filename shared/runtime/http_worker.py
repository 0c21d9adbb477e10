"""gunicorn's threaded worker, made safe against slow and half-open clients, and answering
gunicorn's own errors as problem documents. ``exec_gunicorn`` runs every service with it.

Why: gunicorn's ``gthread`` worker gives a connection to one of its threads as soon as the
connection is readable, and the thread then reads the request with a blocking socket and no
time limit (gunicorn 27 waits at most 5 s for a *first* byte, then for ever). A client that
sends half a request line and stops holds a thread until it goes away; ``--threads`` such
clients per worker, and nothing else is served, ``/healthz`` included. Here instead:

- **The whole request is read by the worker's event loop**, without blocking, into memory;
  a thread gets the connection only once the request is in (``request_framing`` tells
  when: the head up to its empty line, then ``Content-Length`` bytes or the chunks up to
  the last one), and then never waits on the client. A thread is the scarce resource (4 per
  worker); a connection waiting in the loop costs a buffer, bounded: heads by 64 KiB (over
  that gunicorn's parser refuses them, 431), bodies by ``OKR_HTTP_MAX_BODY_BYTES`` (a
  longer one is answered 413 as soon as its length shows it, before it is read). Chunked
  bodies are read the same way, up to the same limit (their framing may add 64 KiB).
- **Deadlines, in the loop:** a head not complete ``head_timeout`` seconds after the
  connection opened, or after its last response on a kept-alive connection, is answered
  408 and closed; so is a body not in ``body_timeout`` seconds after its head. However
  slowly the bytes trickle, half-open and slow connections hold no thread, and are gone by
  then. A client that sent ``Expect: 100-continue`` is told to go on from the loop (gunicorn
  says so again when the thread starts; clients take any number of 100 answers). The
  thread's own reads stop at the body deadline too (``DeadlineSocket``), and writing an
  answer to a client that does not read it gives up after as long.
- **gunicorn's own answers** (a bad request line, 414, 431, the 408 above) are
  ``application/problem+json`` like every other error, not gunicorn's HTML page.

TLS and HTTP/2 are the reverse proxy's job (see the operations docs); this worker speaks
plain HTTP/1.1, and refuses a TLS configuration.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import time
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

from shared.config import ConfigurationError, env_float
from shared.runtime.request_framing import BodyTooLarge, RequestFraming
from shared.web.boundary import InputLimits
from shared.web.problems import problem_type

MAX_HEAD_BYTES = 64 * 1024
#: What the requests waiting in one worker's event loop may hold in memory together; beyond
#: it a new byte is answered 503 (a thousand connections each sending most of a 1 MiB body
#: would otherwise hold a GiB).
MAX_BUFFERED_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SlowClientLimits:
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_body_bytes: int = InputLimits.max_body_bytes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlowClientLimits:
        return cls(head_timeout=env_float("OKR_HTTP_HEAD_TIMEOUT_SECONDS", cls.head_timeout,
                                          environ),
                   body_timeout=env_float("OKR_HTTP_BODY_TIMEOUT_SECONDS", cls.body_timeout,
                                          environ),
                   max_body_bytes=InputLimits.from_env(environ).max_body_bytes)


class DeadlineSocket(socket.socket):
    """A socket whose reads end at ``read_deadline`` (``TimeoutError``), however slowly the
    bytes trickle in: a per-read timeout alone lets a byte every few seconds go on for ever.
    A blocking write lasts ``write_timeout`` at most: a client that does not read its answer
    frees the thread then."""

    read_deadline: float | None = None
    write_timeout: float | None = None

    @classmethod
    def adopt(cls, sock: socket.socket) -> DeadlineSocket:
        timeout = sock.gettimeout()
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.settimeout(timeout)
        return adopted

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        deadline = self.read_deadline
        if deadline is None:
            return super().recv(bufsize, flags)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        previous = self.gettimeout()
        if previous == 0.0:  # non-blocking: the event loop's own reads
            return super().recv(bufsize, flags)
        self.settimeout(remaining if previous is None else min(previous, remaining))
        try:
            return super().recv(bufsize, flags)
        finally:
            self.settimeout(previous)

    def sendall(self, data: Any, flags: int = 0) -> None:
        previous = self.gettimeout()
        if previous is not None or self.write_timeout is None:
            return super().sendall(data, flags)
        self.settimeout(self.write_timeout)  # the whole sendall, since Python 3.5
        try:
            return super().sendall(data, flags)
        finally:
            self.settimeout(previous)


class BoundedThreadWorker(ThreadWorker):
    """``gthread`` with whole requests read by the event loop and reads bounded in time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = SlowClientLimits.from_env()
        self.reading_heads: deque[TConn] = deque()  # by deadline: connections wait in
        self.reading_bodies: deque[TConn] = deque()  # the order their deadline was set
        self.buffered_bytes = 0  # held by the requests in the two queues above

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl:
            raise ConfigurationError("terminate TLS at the reverse proxy, not in gunicorn")

    # -- the event loop: connections wait here, holding no thread, until their request is in

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = DeadlineSocket.adopt(client)
        sock.write_timeout = self.limits.body_timeout
        conn = TConn(self.cfg, sock, address, listener.getsockname())
        self._read_request(conn, b"")

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection sends its next request: read it here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn, b"")

    def enqueue_req(self, conn: TConn) -> None:
        """gthread's way back to a thread for a kept-alive connection whose next request is
        already partly read (pipelined, or read ahead by a body drain): the rest of that
        request is read here first, like any other."""
        self._read_request(conn, conn.parser.unreader.take_buffered())

    def _read_request(self, conn: TConn, buffered: bytes) -> None:
        conn.framing = RequestFraming(self.limits.max_body_bytes, MAX_HEAD_BYTES)
        conn.timeout = time.monotonic() + self.limits.head_timeout
        self.reading_heads.append(conn)
        if buffered and self._received(conn, buffered):
            return
        conn.sock.setblocking(False)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_request_bytes, conn))

    def _on_request_bytes(self, conn: TConn, client: socket.socket) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was in
            self._stop_reading(conn)
            self.nr_conns -= 1
            conn.close()
            return
        self._received(conn, data)

    def _received(self, conn: TConn, data: bytes) -> bool:
        """Add ``data`` to the request being read; whether the connection left the loop
        (handed to a thread, or answered and closed)."""
        framing: RequestFraming = conn.framing
        if self.buffered_bytes + len(data) > MAX_BUFFERED_BYTES:
            self._stop_reading(conn)
            self._refuse(conn, 503, "The server is receiving too many requests; retry later.")
            return True
        self.buffered_bytes += len(data)
        had_head = framing.head_complete
        try:
            complete = framing.feed(data)
        except BodyTooLarge:
            self._stop_reading(conn)
            self._refuse(conn, 413, f"The body is longer than {self.limits.max_body_bytes} "
                                    "bytes.")
            return True
        if complete:
            self._stop_reading(conn)
            self._hand_to_thread(conn, bytes(framing.data))
            return True
        if framing.head_complete and not had_head:  # the body's own deadline starts now
            conn.timeout = time.monotonic() + self.limits.body_timeout
            with suppress(ValueError):
                self.reading_heads.remove(conn)
            self.reading_bodies.append(conn)
            if framing.expects_continue:
                with suppress(OSError):  # 25 bytes fit any socket buffer
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def _stop_reading(self, conn: TConn) -> None:
        self.buffered_bytes -= len(conn.framing.data)
        with suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)
        for waiting in (self.reading_heads, self.reading_bodies):
            with suppress(ValueError):
                waiting.remove(conn)

    def _hand_to_thread(self, conn: TConn, request: bytes) -> None:
        """The whole request is in memory: a thread reads it from there, never waiting."""
        conn.sock.setblocking(True)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(request)
        conn.data_ready = True  # gunicorn must not wait for a first byte: it is here
        # Bytes of a request refused before its body was read may still come: the
        # thread's reads (gunicorn drains what it can) stop at the body deadline.
        conn.sock.read_deadline = time.monotonic() + self.limits.body_timeout
        super().enqueue_req(conn)

    def _refuse(self, conn: TConn, status: int, detail: str) -> None:
        with suppress(OSError):  # best effort: the client may be gone or not reading
            conn.sock.send(problem_response(status, detail))
        self.nr_conns -= 1
        conn.close()

    def handle(self, conn: TConn) -> Any:
        try:
            return super().handle(conn)
        finally:
            conn.sock.read_deadline = None

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for waiting, detail in ((self.reading_heads, "The request did not arrive in time."),
                                (self.reading_bodies, "The body did not arrive in time.")):
            while waiting and waiting[0].timeout <= now:
                conn = waiting[0]
                self._stop_reading(conn)
                self._refuse(conn, 408, detail)

    # -- gunicorn's own error answers ------------------------------------------------------

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        super().handle_error(req, _AnswerAsProblem(client, exc), addr, exc)


def problem_response(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 response carrying a problem document; the connection closes after."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps({"type": problem_type(status).uri,
                       "title": phrase, "status": status, "detail": detail},
                      sort_keys=True).encode()
    head = (f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class _AnswerAsProblem:
    """Stands in for the client socket while gunicorn writes its HTML error page: takes the
    status from it and sends the same answer as a problem document instead."""

    def __init__(self, sock: socket.socket, exc: BaseException) -> None:
        self.sock, self.exc = sock, exc

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def sendall(self, data: bytes) -> None:
        status = int(data.split(b" ", 2)[1])
        if status >= 500:
            detail = "An unexpected error occurred; it has been logged."
        else:
            detail = str(self.exc) or HTTPStatus(status).description
        self.sock.sendall(problem_response(status, _printable(detail)))


def _printable(text: str) -> str:
    """What gunicorn quotes from the request, with anything but printable ASCII escaped."""
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text[:300])
