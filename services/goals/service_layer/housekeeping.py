"""Keeping the goals database from growing without bound: forgetting old idempotency keys.

An ``Idempotency-Key`` makes a retried check-in apply once for
``OKR_IDEMPOTENCY_RETENTION_HOURS`` (72 h by default: a retry after a weekend's outage
still applies once); after that its key and stored answer are deleted, and the same key
would be applied as a new check-in. The relay process runs :func:`housekeeping_loop`; with
several replicas each purges, which is harmless (a delete of what is already gone).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from services.goals.config import SERVICE
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.idempotency import PURGE_BATCH, PURGE_INTERVAL_SECONDS, purge_keys, purge_loop

__all__ = ["PURGE_BATCH", "housekeeping_loop", "purge_idempotency_keys"]

INTERVAL_SECONDS = PURGE_INTERVAL_SECONDS


def purge_idempotency_keys(unit_of_work: Callable[[], UnitOfWork], retention: timedelta,
                           clock: Clock = system_clock) -> int:
    """Delete the keys older than ``retention``, in batches; how many were deleted."""
    return purge_keys(unit_of_work, lambda uow: uow.idempotency, retention, clock,
                      batch=PURGE_BATCH)


def housekeeping_loop(unit_of_work: Callable[[], UnitOfWork], retention: timedelta,
                      interval_seconds: float = INTERVAL_SECONDS
                      ) -> Callable[[threading.Event], None]:
    """A worker loop: purge at start, then every ``interval_seconds``, until ``stop``."""
    return purge_loop(SERVICE, lambda: purge_idempotency_keys(unit_of_work, retention),
                      retention, interval_seconds)
