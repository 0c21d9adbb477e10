"""The housekeeping loop of a worker process: every so often, run each of the service's
purges (old idempotency keys, processed-event ids, settled deliveries ...; see
``shared/persistence/retention.py``).

A purge that fails (the database is away, a lock timed out) is counted in
``okr_handled_errors_total{kind="retention_purge"}`` and tried again at the next round; it
stops neither the other purges nor the process. With several replicas each purges, which
is harmless (a delete of what is already gone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from sqlalchemy.exc import SQLAlchemyError

from shared.observability.metrics import HANDLED_ERRORS, ROWS_PURGED

log = logging.getLogger(__name__)

#: How often the housekeeping loop purges.
PURGE_INTERVAL_SECONDS = 600.0

Purge = Callable[[], int]
"""Deletes what its table no longer keeps; returns how many rows."""


def purge_all(service: str, purges: Mapping[str, Purge]) -> dict[str, int]:
    """Run each purge once (by table name); rows deleted per table that could be purged."""
    deleted: dict[str, int] = {}
    for table, purge in purges.items():
        try:
            deleted[table] = purge()
        except SQLAlchemyError as error:  # the database is away: try again next round
            HANDLED_ERRORS.labels(service, "retention_purge").inc()
            log.warning("could not purge %s: %s", table, error)
            continue
        ROWS_PURGED.labels(service, table).inc(deleted[table])
        if deleted[table]:
            log.info("purged %d rows of %s older than their retention", deleted[table],
                     table, extra={"table": table, "rows": deleted[table]})
    return deleted


def housekeeping_loop(service: str, purges: Mapping[str, Purge],
                      interval_seconds: float = PURGE_INTERVAL_SECONDS
                      ) -> Callable[[threading.Event], None]:
    """A worker loop: every purge at start, then every ``interval_seconds``, until stopped."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            purge_all(service, purges)
            stop.wait(interval_seconds)

    return run
