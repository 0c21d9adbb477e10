"""One PostgreSQL server serves every pytest-xdist worker of a run: a test that restarts
it must not cut the connections of the tests running beside it in other workers.

Tests on PostgreSQL hold the run's lock shared; a test marked ``restarts_postgres``
holds it exclusively, and announces itself first so that no new shared holder starts
while it waits (``flock`` alone would let a stream of shared holders starve it). Outside
pytest-xdist there is one process, and nothing to lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


class ServerLock:
    def __init__(self, run_id: str) -> None:
        folder = Path(tempfile.gettempdir()) / f"okr-tests-{run_id}"
        folder.mkdir(exist_ok=True)
        self._lock = folder / "postgres.lock"
        self._waiting = folder / "postgres.exclusive-waiting"

    @classmethod
    def of_this_run(cls) -> ServerLock | None:
        run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
        return cls(run_id) if run_id else None

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        while self._waiting.exists():
            time.sleep(0.1)
        with self._held(fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        self._waiting.touch()
        try:
            with self._held(fcntl.LOCK_EX):
                yield
        finally:
            self._waiting.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _held(self, kind: int) -> Iterator[None]:
        with open(self._lock, "a+b") as handle:
            fcntl.flock(handle, kind)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
