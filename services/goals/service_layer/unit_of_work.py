"""The unit of work port: one transaction holding a change, its event and its audit entry.

Every goals use case runs in one: ``with uow: ...; uow.commit()``. Either the change, its
event (outbox row) and its audit entry all commit, or none does; leaving the block without
``commit()`` rolls everything back. That is what makes the outbox transactional.

What a check-in writes, and when:

* at once, while the use case runs: the lock on its key result (``for_check_in``) and, with
  an ``Idempotency-Key``, the stored answer (``idempotency.add``, so a concurrent retry
  waits on it and then replays it);
* queued, written at ``commit()`` just before the transaction commits (in one statement on
  PostgreSQL): the key result's new value and version (``key_results.queue_value``), the
  check-in row (``check_ins.queue``), its ``okr.key_result.checked_in`` event and its audit
  entry (``record_change``). A :meth:`savepoint` that raises drops what it queued.

Other changes (objectives, key results' definitions, the graph, reference data, tokens)
write at once and queue only their event and audit entry. Implementations:
``services/goals/adapters/unit_of_work.py`` (SQLAlchemy) and
``services/goals/service_layer/fakes.py`` (in memory, for unit tests).
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

from services.goals.domain.access import Principal
from services.goals.service_layer.repositories import (
    AuditLog,
    CheckInRepository,
    ContributionRepository,
    CycleRepository,
    DepartmentRepository,
    IdempotencyRepository,
    KeyResultRepository,
    LinkRepository,
    ObjectiveRepository,
    TokenRepository,
)
from shared.contract import EventType


class UnitOfWork(abc.ABC):
    departments: DepartmentRepository
    cycles: CycleRepository
    tokens: TokenRepository
    audit: AuditLog
    objectives: ObjectiveRepository
    key_results: KeyResultRepository
    check_ins: CheckInRepository
    contributions: ContributionRepository
    links: LinkRepository
    idempotency: IdempotencyRepository
    request_id: str | None
    """The HTTP request the change came with, recorded in its audit entry."""

    @abc.abstractmethod
    def __enter__(self) -> Self:
        """Begin the transaction; the repositories are usable until the block ends."""

    @abc.abstractmethod
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back whatever was not committed."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Write what was queued, then commit."""

    @abc.abstractmethod
    def savepoint(self, *, database: bool = True) -> AbstractContextManager[None]:
        """A part of the transaction undone alone if the block raises: the rows it queued
        are dropped and, with ``database``, the statements it ran roll back."""

    @abc.abstractmethod
    def record_change(self, *, actor: Principal, event_type: EventType, item_type: str,
                      item_id: str, key: str, department: str | None,
                      before: dict[str, Any] | None, after: dict[str, Any],
                      deleted: bool = False) -> str:
        """Queue the event carrying ``after`` and its audit entry; return the event id.

        ``key`` is the event's partition key. For a deletion ``after`` is the item's last
        state: the event carries it, the audit entry records no state after.
        """

