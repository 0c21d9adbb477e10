"""Slow and half-open clients cannot starve a service, and gunicorn's own errors are problems.

The goals service runs as ``okr-goals serve`` does (gunicorn, the project's worker class),
with one worker of four threads and short deadlines, on SQLite; every client is a raw socket.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.processes import Child

HEAD_TIMEOUT, BODY_TIMEOUT = 3.0, 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``okr-goals serve --workers 1`` on a free port: its address."""
    directory = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("OKR_")}
    environment.update({
        "OKR_DATA_DIR": str(directory), "OKR_GOALS_PORT": str(port),
        "OKR_ADMIN_TOKEN": ADMIN_TOKEN, "OKR_LOG_JSON": "false",
        "OKR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "OKR_HTTP_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "OKR_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)})
    child = Child([str(Path(sys.executable).with_name("okr-goals")), "serve", "--workers", "1"],
                  environment, directory / "gunicorn.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.alive(), child.output()
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, child.output()
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        child.terminate(timeout=10)


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one whole response (the server closes after it or sends Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def timed_healthz(address: tuple[str, int]) -> float:
    started = time.monotonic()
    response = requests.get(f"http://{address[0]}:{address[1]}/healthz", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, (status, body)
    assert headers["content-type"] == "application/problem+json", headers
    document = json.loads(body)
    assert document["status"] == expected and document["title"] and document["detail"]


def test_half_open_connections_do_not_stop_healthz(server: tuple[str, int]) -> None:
    partial_line = [connect(server) for _ in range(25)]
    partial_head = [connect(server) for _ in range(25)]
    for sock in partial_line:
        sock.sendall(b"GET /healthz HT")
    for sock in partial_head:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: ")
    try:
        time.sleep(0.3)  # every one of them is in the worker by now
        assert max(timed_healthz(server) for _ in range(5)) < 1.0
        # and each half-open connection is answered 408 and closed after the head deadline
        started = time.monotonic()
        status, headers, body = answer(partial_line[0])
        assert_problem(status, headers, body, 408)
        assert answer(partial_head[-1])[0] == 408
        assert time.monotonic() - started < HEAD_TIMEOUT + 2
    finally:
        for sock in partial_line + partial_head:
            sock.close()


def test_a_body_trickled_byte_by_byte_is_cut_off(server: tuple[str, int]) -> None:
    sock = connect(server)
    body = json.dumps({"key": "2031-Q1", "starts_on": "2031-01-01",
                       "ends_on": "2031-03-31"}).encode()
    sock.sendall(b"POST /v1/cycles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {ADMIN_TOKEN}\r\n".encode()
                 + f"Content-Length: {len(body)}\r\n\r\n".encode())
    started, sent = time.monotonic(), 0
    sock.settimeout(0.3)
    reply = b""
    try:
        while time.monotonic() - started < BODY_TIMEOUT + 3 and sent < len(body) - 1:
            sock.send(body[sent:sent + 1])
            sent += 1
            try:
                reply = sock.recv(65536)
                break
            except TimeoutError:
                assert timed_healthz(server) < 1.0  # others are served meanwhile
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert b"application/problem+json" in reply
        assert BODY_TIMEOUT - 0.5 < time.monotonic() - started < BODY_TIMEOUT + 2
        assert sent < len(body) - 1  # cut off before the body was in
    finally:
        sock.close()
    cycle = requests.get(f"http://{server[0]}:{server[1]}/v1/cycles/2031-Q1", timeout=5,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert cycle.status_code == 404  # nothing was stored


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
    (b"NOT A REQUEST LINE\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n", 400),
], ids=["uri-too-long", "header-too-large", "bad-request-line", "bad-header-name"])
def test_gunicorns_own_errors_are_problem_documents(server: tuple[str, int],
                                                    request_bytes: bytes, status: int) -> None:
    with connect(server) as sock:
        sock.sendall(request_bytes)
        assert_problem(*answer(sock), status)


def test_kept_alive_connections_serve_more_requests(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = answer(sock)
            assert status == 200 and json.loads(body) == {"status": "ok"}



def post_head(path: str, headers: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\n{headers}\r\n").encode()


def test_many_trickled_bodies_hold_no_thread_and_are_cut_off(server: tuple[str, int]) -> None:
    """Three times more connections than the worker has threads, each sending its body a byte
    at a time: the event loop holds them, /healthz is answered promptly throughout, and each
    is answered 408 at the body deadline."""
    trickling = [connect(server) for _ in range(12)]
    try:
        for sock in trickling:
            sock.sendall(post_head("/v1/cycles", "Content-Length: 100000\r\n"))
        started, probes = time.monotonic(), []
        while time.monotonic() - started < BODY_TIMEOUT - 0.3:
            for sock in trickling:
                sock.send(b" ")
            probes.append(timed_healthz(server))
            time.sleep(0.1)
        assert len(probes) >= 5 and max(probes) < 1.0, probes
        for sock in trickling:
            assert_problem(*answer(sock), 408)
        assert time.monotonic() - started < BODY_TIMEOUT + 2
    finally:
        for sock in trickling:
            sock.close()


def test_a_body_announced_over_the_limit_is_refused_before_it_is_sent(
        server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(post_head("/v1/cycles", f"Content-Length: {2 * 1024 * 1024}\r\n"))
        started = time.monotonic()
        assert_problem(*answer(sock), 413)
        assert time.monotonic() - started < 1.0


def test_a_chunked_body_sent_in_pieces_is_read_whole(server: tuple[str, int]) -> None:
    body = json.dumps({"key": "2032-Q1", "starts_on": "2032-01-01",
                       "ends_on": "2032-03-31"}).encode()
    with connect(server) as sock:
        sock.sendall(post_head("/v1/cycles", "Transfer-Encoding: chunked\r\n"))
        for start in range(0, len(body), 10):
            piece = body[start:start + 10]
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            time.sleep(0.05)
        sock.sendall(b"0\r\n\r\n")
        status, _, reply = answer(sock)
        assert status == 201, reply
        # and a chunked body that never ends is cut off at the deadline like any other
        sock.sendall(post_head("/v1/cycles", "Transfer-Encoding: chunked\r\n") + b"5\r\n{\"ke")
        started = time.monotonic()
        assert_problem(*answer(sock), 408)
        assert BODY_TIMEOUT - 0.5 < time.monotonic() - started < BODY_TIMEOUT + 2


def test_pipelined_requests_are_each_answered(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2
                     + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        replies = b""
        while chunk := sock.recv(65536):  # the server closes after the third
            replies += chunk
    assert replies.count(b"HTTP/1.1 200 OK\r\n") == 3, replies
    assert replies.count(b'{"status":"ok"}') == 3, replies
