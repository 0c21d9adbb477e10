"""``make demo`` against a platform that is still starting or still rolling up: it waits
until the services answer, and reports a roll-up only once it has stopped changing (a
read in the middle of the consumer's batches would print a figure on its way)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import free_port
from tools.demo import DemoFailed, wait_for_rollup, wait_until_answering


class Serving:
    def __init__(self, app: Any, port: int = 0) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def servers() -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for serving in started:
        serving.close()


def test_the_roll_up_is_reported_once_it_stopped_changing(servers: list[Serving]) -> None:
    figures = [0.0, 0.1, 0.25, 0.4, 0.55]  # the consumer working through its batches
    reads: list[float] = []

    @Request.application
    def rollups(request: Request) -> Response:
        progress = figures[min(len(reads), len(figures) - 1)]
        reads.append(progress)
        # the expected progress moves with the clock, on every read: not a change
        return Response(json.dumps({"id": "t", "progress": progress,
                                    "expected_progress": time.monotonic()}),
                        content_type="application/json")

    servers.append(serving := Serving(rollups))
    began = time.monotonic()
    rollup = wait_for_rollup(serving.url, "token", "t", timeout=60, quiet=1.0)
    assert time.monotonic() - began < 60, "never settled: it ran to its deadline"
    assert rollup is not None
    assert rollup["progress"] == figures[-1]
    assert reads.count(figures[-1]) >= 2  # seen unchanged before it was reported


def test_the_demo_waits_for_services_that_are_still_starting(servers: list[Serving]) -> None:
    port = free_port()

    @Request.application
    def healthy(request: Request) -> Response:
        return Response("ok")

    def start_later() -> None:
        time.sleep(1.5)
        servers.append(Serving(healthy, port))

    starter = threading.Thread(target=start_later)
    starter.start()
    began = time.monotonic()
    wait_until_answering([f"http://127.0.0.1:{port}"], timeout=60)
    starter.join()
    assert time.monotonic() - began >= 1.5


def test_a_service_that_never_answers_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DemoFailed, match=url):
        wait_until_answering([url], timeout=1)
