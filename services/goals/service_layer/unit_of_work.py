"""The unit of work: one transaction holding the change, its event (outbox) and its audit entry.

Either all three commit or none does; that is what makes the outbox transactional.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction

from services.goals.adapters import tables
from services.goals.adapters.goal_repositories import (
    CheckInRepository,
    ContributionRepository,
    IdempotencyRepository,
    KeyResultRepository,
    LinkRepository,
    ObjectiveRepository,
)
from services.goals.adapters.repositories import (
    AuditLog,
    CycleRepository,
    DepartmentRepository,
    TokenRepository,
)
from services.goals.domain.access import Principal
from shared.cloudevents import new_event
from shared.contract import EventType
from shared.persistence.engine import writing
from shared.persistence.outbox import Outbox


class UnitOfWork:
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

    def __init__(self, engine: Engine, event_source: str, request_id: str | None = None,
                 *, writes: bool = True) -> None:
        # Only a writing unit asks SQLite for the write lock at BEGIN; reads (every
        # request's token lookup, every GET) must not queue behind writers.
        self._engine = writing(engine) if writes else engine
        self._outbox = Outbox(tables.plumbing.outbox)
        self.event_source = event_source
        self.request_id = request_id
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._events_queued = False

    def __enter__(self) -> UnitOfWork:
        self._connection = self._engine.connect()
        self._transaction = self._connection.begin()
        self._events_queued = False
        self.departments = DepartmentRepository(self._connection)
        self.cycles = CycleRepository(self._connection)
        self.tokens = TokenRepository(self._connection)
        self.audit = AuditLog(self._connection)
        self.objectives = ObjectiveRepository(self._connection)
        self.key_results = KeyResultRepository(self._connection)
        self.check_ins = CheckInRepository(self._connection)
        self.contributions = ContributionRepository(self._connection)
        self.links = LinkRepository(self._connection)
        self.idempotency = IdempotencyRepository(self._connection)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._connection is not None and self._transaction is not None
        if self._transaction.is_active:
            self._transaction.rollback()
        self._connection.close()

    def commit(self) -> None:
        assert self._connection is not None and self._transaction is not None
        if self._events_queued:
            # One NOTIFY for the whole transaction (a batch of 1,000 check-ins queues 1,000
            # events), sent in the root transaction so no rolled-back savepoint can drop it.
            self._outbox.notify(self._connection)
            self._events_queued = False
        self._transaction.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: its changes roll back alone if the block raises."""
        assert self._connection is not None
        with self._connection.begin_nested():
            yield

    def record_change(self, *, actor: Principal, event_type: EventType, item_type: str,
                      item_id: str, key: str, department: str | None,
                      before: dict[str, Any] | None, after: dict[str, Any],
                      deleted: bool = False) -> str:
        """Queue the event carrying ``after`` and write the audit entry; return the event id.

        For a deletion ``after`` is the item's last state: the event carries it, the audit
        entry records no state after.
        """
        assert self._connection is not None
        event = new_event(event_type, self.event_source, f"{item_type}/{item_id}", after)
        self._outbox.append(self._connection, event, key, notify=False)
        self._events_queued = True
        self.audit.record(occurred_at=event.time, actor=actor.name, actor_role=actor.role.value,
                          action=event_type.value, item_type=item_type, item_id=item_id,
                          department=department, before=before,
                          after=None if deleted else after, event_id=event.id,
                          request_id=self.request_id)
        return event.id
