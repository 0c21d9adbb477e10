"""The unit of work on SQLAlchemy (the port, and what a check-in writes when:
``services/goals/service_layer/unit_of_work.py``).

A unit works on its own pooled connection, or on one it is given: the connection an HTTP
request holds from authentication to its answer, so a request checks out (and pings) one
connection and its token lookup and its write share one transaction on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction

from services.goals.adapters import tables
from services.goals.adapters.audit_log import SqlAuditLog, audit_row
from services.goals.adapters.changes import PendingWrites
from services.goals.adapters.goal_repositories import (
    SqlCheckInRepository,
    SqlIdempotencyRepository,
    SqlKeyResultRepository,
    SqlObjectiveRepository,
)
from services.goals.adapters.graph_repositories import SqlContributionRepository, SqlLinkRepository
from services.goals.adapters.reference_data_repositories import (
    SqlCycleRepository,
    SqlDepartmentRepository,
)
from services.goals.adapters.token_repositories import SqlTokenRepository
from services.goals.domain.access import Principal
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.cloudevents import new_event
from shared.contract import EventType
from shared.persistence.dialects import continue_or_begin
from shared.persistence.engine import writing
from shared.persistence.outbox import Outbox


class SqlAlchemyUnitOfWork(UnitOfWork):
    departments: SqlDepartmentRepository
    cycles: SqlCycleRepository
    tokens: SqlTokenRepository
    audit: SqlAuditLog
    objectives: SqlObjectiveRepository
    key_results: SqlKeyResultRepository
    check_ins: SqlCheckInRepository
    contributions: SqlContributionRepository
    links: SqlLinkRepository
    idempotency: SqlIdempotencyRepository

    def __init__(self, engine: Engine, event_source: str, request_id: str | None = None,
                 *, writes: bool = True, connection: Connection | None = None,
                 wake_relay: Callable[[], None] | None = None) -> None:
        # Only a writing unit asks SQLite for the write lock at BEGIN; reads (every
        # request's token lookup, every GET) must not queue behind writers.
        self._engine = writing(engine) if writes else engine
        self._writes = writes
        self._given = connection
        self._wake_relay = wake_relay
        self._outbox = Outbox(tables.plumbing.outbox)
        self.event_source = event_source
        self.request_id = request_id
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._pending = PendingWrites()
        self._entered = False

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._entered:
            # A second enter would open a second connection over the first, which then
            # leaks until the garbage collector finds it (and the pool runs dry first).
            raise RuntimeError("a unit of work is entered once at a time")
        self._entered = True
        if self._given is None:
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
        else:
            self._connection = self._given
            self._transaction = continue_or_begin(self._given, writes=self._writes)
        self._pending = PendingWrites()
        self.departments = SqlDepartmentRepository(self._connection)
        self.cycles = SqlCycleRepository(self._connection)
        self.tokens = SqlTokenRepository(self._connection)
        self.audit = SqlAuditLog(self._connection)
        self.objectives = SqlObjectiveRepository(self._connection)
        self.key_results = SqlKeyResultRepository(self._connection, self._pending)
        self.check_ins = SqlCheckInRepository(self._connection, self._pending)
        self.contributions = SqlContributionRepository(self._connection)
        self.links = SqlLinkRepository(self._connection)
        self.idempotency = SqlIdempotencyRepository(self._connection)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._connection is not None and self._transaction is not None
        self._entered = False
        if self._given is not None and not self._writes:
            return  # a read leaves the request's transaction open for its next unit
        if self._connection.get_transaction() is not None:  # not committed: roll back
            self._transaction.rollback()
        if self._given is None:
            self._connection.close()

    def commit(self) -> None:
        assert self._connection is not None and self._transaction is not None
        woken = bool(self._pending)  # every change queues an event
        self._pending.write(self._connection)
        if woken and self._wake_relay is None:
            # One NOTIFY for the whole transaction (a batch of 1,000 check-ins queues 1,000
            # events), sent in the root transaction so no rolled-back savepoint can drop it.
            self._outbox.notify(self._connection)
        self._transaction.commit()
        if woken and self._wake_relay is not None:
            self._wake_relay()  # after the commit, off this transaction: see RelayWakeup

    @contextmanager
    def savepoint(self, *, database: bool = True) -> Iterator[None]:
        """``database``: a SAVEPOINT."""
        assert self._connection is not None
        mark = self._pending.mark()
        try:
            if database:
                with self._connection.begin_nested():
                    yield
            else:
                yield
        except BaseException:
            self._pending.drop_since(mark)
            raise

    def record_change(self, *, actor: Principal, event_type: EventType, item_type: str,
                      item_id: str, key: str, department: str | None,
                      before: dict[str, Any] | None, after: dict[str, Any],
                      deleted: bool = False) -> str:
        """Both rows are inserted at :meth:`commit`, in this transaction (``PendingWrites``)."""
        assert self._connection is not None
        event = new_event(event_type, self.event_source, f"{item_type}/{item_id}", after)
        self._pending.insert(tables.plumbing.outbox, self._outbox.row(event, key))
        self._pending.insert(tables.audit_log, audit_row(
            occurred_at=event.time, actor=actor.name, actor_role=actor.role.value,
            action=event_type.value, item_type=item_type, item_id=item_id,
            department=department, before=before, after=None if deleted else after,
            event_id=event.id, request_id=self.request_id))
        return event.id
