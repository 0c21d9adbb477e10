"""The metrics service's unit of work on SQLAlchemy (the ``UnitOfWork`` port)."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from services.metrics.adapters.read_model import ProcessedEventLog, ReadModelRepository
from shared.cloudevents import CloudEvent
from shared.persistence.outbox import Outbox
from shared.persistence.transactions import TransactionScope


class SqlUnitOfWork:
    read_model: ReadModelRepository
    processed: ProcessedEventLog

    def __init__(self, engine: Engine | None, outbox: Outbox, *,
                 connection: Connection | None = None, writes: bool = True) -> None:
        self._scope = TransactionScope(engine, connection=connection, writes=writes)
        self._outbox = outbox

    def __enter__(self) -> SqlUnitOfWork:
        connection = self._scope.open()
        self.read_model = ReadModelRepository(connection)
        self.processed = ProcessedEventLog(connection)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._scope.close()

    def commit(self) -> None:
        self._scope.commit()

    def publish(self, events: list[tuple[CloudEvent, str]]) -> None:
        assert self._scope.connection is not None
        self._outbox.publish(self._scope.connection, events)
