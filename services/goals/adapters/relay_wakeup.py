"""Waking the outbox relay after commits, off the request path (PostgreSQL).

A ``NOTIFY`` inside a transaction makes PostgreSQL serialise that transaction's commit,
WAL flush included, with every other notifying transaction (a database-wide lock); under
load, check-ins queued behind each other's commits. So a unit of work that queued events
commits without it and calls :meth:`RelayWakeup.committed`; one thread per process then
sends one ``NOTIFY`` (its own tiny transaction, on a connection it keeps while it runs)
for all the commits since its last one.

Every commit is followed by a ``NOTIFY`` sent after it, so the relay still wakes for each
(the flag is cleared before a ``NOTIFY`` is sent, and set after a commit). If one cannot be
sent, the relay's fallback poll (``OKR_RELAY_POLL_SECONDS``) still finds the rows; the
events themselves are already committed with their changes.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.observability.metrics import HANDLED_ERRORS
from shared.persistence.outbox import Outbox

log = logging.getLogger(__name__)

#: The thread ends after this long without a commit and starts again with the next one,
#: so containers that are no longer used (one per test) leave no thread behind.
IDLE_SECONDS = 5.0

#: How long a NOTIFY waits for more commits to share it: the relay wakes about this much
#: later than it would have with a NOTIFY inside each transaction.
COALESCE_SECONDS = 0.005


class RelayWakeup:
    def __init__(self, service: str, engine: Engine, outbox: Outbox) -> None:
        self._service = service
        self._engine = engine
        self._outbox = outbox
        self._pending = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def committed(self) -> None:
        """A transaction holding outbox rows has committed: have the relay woken."""
        self._pending.set()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="okr-relay-wakeup",
                                                daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop the thread now and let its connection go (the container is going away)."""
        self._closed = True
        self._pending.set()

    def _run(self) -> None:
        connection: Connection | None = None
        try:
            while True:
                if not self._pending.wait(IDLE_SECONDS):
                    with self._lock:
                        if not self._pending.is_set():
                            self._thread = None
                            return
                if self._closed:
                    return
                # Let the commits of the next moment share this NOTIFY: each one is its own
                # transaction with a WAL flush, which under load costs more than the wait.
                time.sleep(COALESCE_SECONDS)
                self._pending.clear()
                connection = self._notify(connection)
        finally:
            if connection is not None:
                connection.close()

    def _notify(self, connection: Connection | None) -> Connection | None:
        """Send one NOTIFY; returns the connection to use next time (None after a failure).

        A kept connection the database dropped (a restart) is replaced once, silently."""
        for attempt in (1, 2):
            try:
                if connection is None:
                    connection = self._engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT")
                self._outbox.notify(connection)
                return connection
            except SQLAlchemyError as error:
                if connection is not None:
                    connection.invalidate()
                    connection.close()
                    connection = None
                if attempt == 2:
                    # The rows are committed; the relay's fallback poll will publish them.
                    HANDLED_ERRORS.labels(self._service, "relay_wakeup").inc()
                    log.warning("could not wake the outbox relay: %s", error)
        return None
