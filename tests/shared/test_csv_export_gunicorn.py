"""Whole-set CSV streams under the production server (gunicorn with the platform's worker,
``shared/runtime/http_worker.py``, 4 threads): slow readers hold at most
``OKR_CSV_EXPORT_STREAMS`` threads, so the process still answers; a stream cut by a
failure is an error to the client, not a shorter file."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.runtime.http_server import WORKER_CLASS
from shared.web.csv_export import BATCH_ROWS, CUT_MARKER
from tests.conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
CSV = {"Accept": "text/csv"}


def _gunicorn(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--worker-class", WORKER_CLASS, "--threads", "4",
         "--no-control-socket", "tests.support.csv_export_app:app"],
        cwd=REPOSITORY, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def endless(tmp_path: Path) -> Iterator[str]:
    yield from _gunicorn(tmp_path, {"OKR_CSV_EXPORT_STREAMS": "2"})


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[str]:
    yield from _gunicorn(tmp_path, {"OKR_TEST_CSV_FAIL_AT": str(3 * BATCH_ROWS)})


def test_slow_readers_hold_two_threads_and_the_process_still_answers(endless: str) -> None:
    readers = [requests.get(f"{endless}/v1/items", headers=CSV, stream=True, timeout=30)
               for _ in range(2)]
    reading = [reader.iter_content(chunk_size=64) for reader in readers]  # kept: open
    try:
        for reader, chunks in zip(readers, reading, strict=True):
            assert reader.status_code == 200
            assert next(chunks).startswith(b"id,note\r\n")
        for _ in range(3):  # more exports are refused at once, without a thread held
            with requests.get(f"{endless}/v1/items", headers=CSV, stream=True,
                              timeout=30) as refused:
                assert refused.status_code == 503
                assert refused.headers["Content-Type"] == "application/problem+json"
                assert int(refused.headers["Retry-After"]) > 0
        # the two threads left serve everything else
        assert requests.get(f"{endless}/healthz", timeout=10).status_code == 200
        page = requests.get(f"{endless}/v1/items?page_size=3", headers=CSV, timeout=10)
        assert page.status_code == 200
        assert len(page.text.split("\r\n")) == 5  # header, three rows, the empty tail
    finally:
        for reader in readers:
            reader.close()
    # the slots come back once gunicorn sees the readers gone
    deadline = time.monotonic() + 60
    while True:
        with requests.get(f"{endless}/v1/items", headers=CSV, stream=True,
                          timeout=30) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "the slots of closed streams never came back"
        time.sleep(0.2)


def test_a_stream_cut_by_a_failure_is_an_error_and_no_valid_csv(failing: str) -> None:
    received = bytearray()
    with requests.get(f"{failing}/v1/items", headers=CSV, stream=True,
                      timeout=30) as response:
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in response.iter_content(chunk_size=None):
                received += chunk
    text = received.decode("utf-8")
    assert text.endswith(CUT_MARKER.format(rows=3 * BATCH_ROWS))
    with pytest.raises(csv.Error):
        list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert requests.get(f"{failing}/healthz", timeout=10).status_code == 200
