"""Keeping the goals database from growing without bound: forgetting old idempotency keys.

An ``Idempotency-Key`` makes a retried check-in apply once for
``OKR_IDEMPOTENCY_RETENTION_HOURS`` (72 h by default: a retry after a weekend's outage
still applies once); after that its key and stored answer are deleted, and the same key
would be applied as a new check-in. The relay process runs :func:`housekeeping_loop`; with
several replicas each purges, which is harmless (a delete of what is already gone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.goals.config import SERVICE
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.observability.metrics import HANDLED_ERRORS

log = logging.getLogger(__name__)

#: Keys deleted per transaction, so a large backlog never holds locks for long.
PURGE_BATCH = 5_000
INTERVAL_SECONDS = 600.0


def purge_idempotency_keys(unit_of_work: Callable[[], UnitOfWork], retention: timedelta,
                           clock: Clock = system_clock) -> int:
    """Delete the keys older than ``retention``, in batches; how many were deleted."""
    horizon = clock() - retention
    deleted = 0
    while True:
        with unit_of_work() as uow:
            batch = uow.idempotency.purge(horizon, PURGE_BATCH)
            uow.commit()
        deleted += batch
        if batch < PURGE_BATCH:
            return deleted


def housekeeping_loop(unit_of_work: Callable[[], UnitOfWork], retention: timedelta,
                      interval_seconds: float = INTERVAL_SECONDS
                      ) -> Callable[[threading.Event], None]:
    """A worker loop: purge at start, then every ``interval_seconds``, until ``stop``."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                deleted = purge_idempotency_keys(unit_of_work, retention)
            except SQLAlchemyError as error:  # the database is away: try again next time
                HANDLED_ERRORS.labels(SERVICE, "idempotency_purge").inc()
                log.warning("could not purge idempotency keys: %s", error)
            else:
                if deleted:
                    log.info("forgot %d idempotency keys older than %s", deleted, retention)
            stop.wait(interval_seconds)

    return run
