"""Real HTTP servers (gunicorn subprocesses) and a keep-alive load client on threads.

Used by the check-in benchmarks (``bench/checkins.py``) and by the concurrency tests in
``tests/goals/concurrency`` (no dependency beyond the standard library and gunicorn).

The client is closed-loop (each of N threads sends its next request when the previous one
answered) or open-loop (requests are due at a fixed rate, and latency is measured from the
moment a request was due, so a slow server cannot hide its queue: no coordinated omission).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import free_port, stop

REPOSITORY = Path(__file__).resolve().parents[1]
GOALS_WSGI = "services.goals.entrypoints.wsgi:app"


# -- servers -------------------------------------------------------------------------------

@dataclass
class Server:
    """A running gunicorn: its address and where its log goes."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, characters: int = 4_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return ""


@contextlib.contextmanager
def gunicorn(app: str, env: Mapping[str, str], *, workers: int = 2, threads: int = 8,
             startup_timeout: float = 30.0, health_path: str = "/healthz") -> Iterator[Server]:
    """Serve the WSGI ``app`` ("module:attribute") with gunicorn on a free port.

    ``env`` is added to this process's environment. Several workers get a fresh
    ``PROMETHEUS_MULTIPROC_DIR``, as ``okr-goals serve`` gives them. The server is stopped
    with SIGTERM (then SIGKILL) when the block ends.
    """
    port = free_port()
    executable = Path(sys.executable).with_name("gunicorn")
    with tempfile.TemporaryDirectory(prefix="okr-gunicorn-") as scratch:
        environment = {**os.environ, **env}
        if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
            metrics_dir = Path(scratch) / "metrics"
            metrics_dir.mkdir()
            environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        log_path = Path(scratch) / "gunicorn.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(executable), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                 "--threads", str(threads), "--graceful-timeout", "10",
                 "--no-control-socket", app],
                cwd=REPOSITORY, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
        with _served(process, port, log_path, health_path, startup_timeout) as server:
            yield server


@contextlib.contextmanager
def service(command: Sequence[str], env: Mapping[str, str], port: int, *,
            startup_timeout: float = 60.0, health_path: str = "/healthz",
            checkout: Path = REPOSITORY) -> Iterator[Server]:
    """Run a service's own ``serve`` command (``okr-metrics serve``: it migrates, then execs
    gunicorn as deployed) listening on ``port``; stopped when the block ends. ``checkout``:
    the tree whose code it serves (another one's goes first on ``PYTHONPATH``)."""
    executable = Path(sys.executable).with_name(command[0])
    if checkout != REPOSITORY:
        env = {**env, "PYTHONPATH": str(checkout)}
    with tempfile.TemporaryDirectory(prefix="okr-serve-") as scratch:
        log_path = Path(scratch) / "serve.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen([str(executable), *command[1:]], cwd=checkout,
                                       env={**os.environ, **env}, stdout=log_file,
                                       stderr=subprocess.STDOUT)
        with _served(process, port, log_path, health_path, startup_timeout) as server:
            yield server


@contextlib.contextmanager
def _served(process: subprocess.Popen[bytes], port: int, log_path: Path, health_path: str,
            startup_timeout: float) -> Iterator[Server]:
    """The server ``process`` listening on ``port`` once it answers ``health_path``; stopped
    when the block ends (or when it never answers)."""
    server = Server("127.0.0.1", port, process, log_path)
    try:
        _wait_until_healthy(server, health_path, startup_timeout)
        yield server
    finally:
        stop(process)


def resident_kib(pid: int) -> dict[str, int]:
    """The resident set size of a process and its peak (``VmRSS``, ``VmHWM``), in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def workers_of(server: Server) -> list[int]:
    """The process ids of a gunicorn server's workers (its master's children)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _wait_until_healthy(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            connection = http.client.HTTPConnection(server.host, server.port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn not healthy after {timeout} s:\n{server.log_tail()}")
        time.sleep(0.05)


# -- the client ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """One keep-alive connection (use one per thread); reconnects once if it was closed."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str] | None = None,
                 timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = dict(headers or {})
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None,
                headers: Mapping[str, str] | None = None) -> Reply:
        payload = None if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        sent = {**self.headers, **(headers or {})}
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, self.port,
                                                              timeout=self.timeout)
            try:
                self._connection.request(method, path, body=payload, headers=sent)
                response = self._connection.getresponse()
                data = response.read()
                return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                             data)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server closed meanwhile: retry once, fresh.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


RequestFactory = Callable[[int, int], tuple[str, str, Any, Mapping[str, str] | None]]
"""(client number, request number) -> (method, path, body, headers)."""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class _Tally:
    """One worker's observations, kept apart and merged into the shared result at the end."""

    def __init__(self, expect: Callable[[Reply], bool] | None) -> None:
        self.expect = expect
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def send(self, client: HttpClient, request: Any, since: float) -> None:
        """Send one request; its latency runs from ``since`` (a ``perf_counter`` time)."""
        method, path, body, extra = request
        try:
            reply = client.request(method, path, body, extra)
        except OSError as error:
            self.errors.append(repr(error))
            client.close()
            return
        self.latencies.append(time.perf_counter() - since)
        self.statuses[reply.status] += 1
        if self.expect is not None and not self.expect(reply) and len(self.errors) < 20:
            self.errors.append(f"{reply.status}: {reply.body[:300]!r}")

    def merge_into(self, result: LoadResult, lock: threading.Lock) -> None:
        with lock:
            result.latencies.extend(self.latencies)
            result.statuses.update(self.statuses)
            result.errors.extend(self.errors)


def closed_loop(host: str, port: int, make: RequestFactory, *, clients: int, requests: int,
                time_limit: float, headers: Mapping[str, str] | None = None,
                expect: Callable[[Reply], bool] | None = None) -> LoadResult:
    """``clients`` threads share ``requests`` requests (each waits for its answer before the
    next); stops early after ``time_limit`` seconds. Counts only answered requests."""
    counter = iter(range(requests))
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    result = LoadResult(requests=0, seconds=0.0)
    deadline: list[float] = [0.0]

    def work(number: int) -> None:
        client = HttpClient(host, port, headers)
        tally = _Tally(expect)
        start.wait()
        try:
            while time.monotonic() < deadline[0]:
                with lock:
                    index = next(counter, None)
                if index is None:
                    break
                request = make(number, index)
                tally.send(client, request, since=time.perf_counter())
        finally:
            client.close()
            tally.merge_into(result, lock)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + time_limit
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(time_limit + 120)
    result.seconds = time.perf_counter() - began
    result.requests = len(result.latencies)
    return result


def open_loop(host: str, port: int, make: RequestFactory, *, rate: float, duration: float,
              workers: int = 32, headers: Mapping[str, str] | None = None,
              expect: Callable[[Reply], bool] | None = None) -> LoadResult:
    """Requests due every ``1/rate`` s for ``duration`` s, sent by a pool of ``workers``
    keep-alive connections; each latency runs from when the request was due."""
    total = max(1, int(rate * duration))
    lock = threading.Lock()
    next_index = [0]
    result = LoadResult(requests=0, seconds=0.0)
    origin = time.perf_counter() + 0.2

    def work(number: int) -> None:
        client = HttpClient(host, port, headers)
        tally = _Tally(expect)
        try:
            while True:
                with lock:
                    index = next_index[0]
                    if index >= total:
                        break
                    next_index[0] += 1
                due = origin + index / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                tally.send(client, make(number, index), since=due)
        finally:
            client.close()
            tally.merge_into(result, lock)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 120)
    result.seconds = time.perf_counter() - origin
    result.requests = len(result.latencies)
    return result
