"""One active relay per database, and a prompt wake-up when the outbox receives rows.

The same leases keep other single-instance workers single (the metrics consumer, which
holds the whole goal graph in memory): :func:`acquire_until` makes a second process a
standby, :func:`keep_lease` stops the holder if its lease dies.

Several worker replicas may run; only the holder of the lease publishes, the others wait
to take over. The lease dies with its holder's process (a PostgreSQL session-level
advisory lock, or an ``flock`` on a file beside the SQLite database), so ``kill -9``
never leaves it stuck.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from shared.observability.metrics import HANDLED_ERRORS
from shared.persistence.engine import is_sqlite
from shared.persistence.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The session that held the lease is gone (database restart): take the lease again."""


class Lease(Protocol):
    """Held by at most one process at a time; dies with its holder (the relay's, the
    metrics consumer's)."""

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this process now holds it."""

    def wait_for_work(self, timeout: float, stop: threading.Event) -> None:
        """Return when new outbox rows may have been committed, or after ``timeout``.

        Raises :class:`LeaseLost` when the lease turns out to be gone.
        """

    def release(self) -> None: ...


class PostgresLease:
    """Advisory lock + LISTEN/NOTIFY on one dedicated connection."""

    def __init__(self, engine: Engine, name: str) -> None:
        url = make_url(engine.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._connection: psycopg.Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._dsn, autocommit=True)
        row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if not (row and row[0]):
            return False
        self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return True

    def wait_for_work(self, timeout: float, stop: threading.Event) -> None:
        assert self._connection is not None
        try:
            for _ in self._connection.notifies(timeout=timeout, stop_after=1):
                break
        except psycopg.Error as error:
            # The lock lived in this session: whoever connects first may hold it now.
            self.release()
            raise LeaseLost(str(error).strip()) from error

    def release(self) -> None:
        if self._connection is not None and not self._connection.closed:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()  # ends the session: lock and LISTEN go with it
        self._connection = None


class SqliteLease:
    """``flock`` on ``<database>.<name>.lock``; wakes up on a short poll (the file has no
    NOTIFY)."""

    def __init__(self, engine: Engine, poll_seconds: float, name: str = "relay") -> None:
        database = make_url(engine.url).database or "memory"
        self._path = Path(f"{database}.{name}.lock")
        self._poll_seconds = poll_seconds
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        handle = self._path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def wait_for_work(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(min(timeout, self._poll_seconds))

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lease_for(engine: Engine, name: str, sqlite_poll_seconds: float) -> Lease:
    if is_sqlite(engine):
        return SqliteLease(engine, sqlite_poll_seconds, name)
    return PostgresLease(engine, name)


def acquire_until(lease: Lease, what: str, stop: threading.Event, *, service: str,
                  error_kind: str, poll_seconds: float = 1.0) -> bool:
    """Wait until this process holds ``lease`` (meanwhile another process holds it: this one
    is a standby); False if ``stop`` was set first. A failure to ask (the database not
    reachable yet) is counted as handled error ``error_kind`` and asked again."""
    waiting_logged = False
    while not stop.is_set():
        try:
            if lease.try_acquire():
                log.info("holds the %s lease", what, extra={"service": service})
                return True
        except Exception as error:  # database not reachable yet: keep waiting
            HANDLED_ERRORS.labels(service, error_kind).inc()
            log.warning("cannot take the %s lease yet: %s", what, error)
        if not waiting_logged:
            log.info("waiting for the %s lease: another process holds it (standby)", what)
            waiting_logged = True
        stop.wait(poll_seconds)
    return False


def keep_lease(lease: Lease, check_seconds: float = 1.0
               ) -> Callable[[threading.Event], None]:
    """A worker loop that watches a held lease until stopped, then releases it; it raises
    :class:`LeaseLost` if the lease's session dies, which stops the process (see
    ``run_until_signalled``) before another can hold the lease beside it."""

    def run(stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                lease.wait_for_work(check_seconds, stop)
        finally:
            lease.release()

    return run
