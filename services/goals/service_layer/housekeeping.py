"""Forgetting old idempotency keys, so the goals database does not grow without bound.

An ``Idempotency-Key`` makes a retried check-in apply once for
``OKR_IDEMPOTENCY_RETENTION_HOURS`` (72 h by default: a retry after a weekend's outage
still applies once); after that its key and stored answer are deleted, and the same key
would be applied as a new check-in. The relay process's housekeeping loop runs it
(``Goals.purges``, ``shared/runtime/housekeeping.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.idempotency import purge_keys
from shared.persistence.retention import PURGE_BATCH

__all__ = ["PURGE_BATCH", "purge_idempotency_keys"]


def purge_idempotency_keys(unit_of_work: Callable[[], UnitOfWork], retention: timedelta,
                           clock: Clock = system_clock) -> int:
    """Delete the keys older than ``retention``, in batches; how many were deleted."""
    return purge_keys(unit_of_work, lambda uow: uow.idempotency, retention, clock,
                      batch=PURGE_BATCH)
