"""The metrics service's unit of work on SQLAlchemy (the ``UnitOfWork`` port)."""

from __future__ import annotations

from sqlalchemy import Connection

from services.metrics.adapters.read_model import ProcessedEventLog, ReadModelRepository
from shared.persistence import unit_of_work


class SqlUnitOfWork(unit_of_work.SqlUnitOfWork):
    read_model: ReadModelRepository
    processed: ProcessedEventLog

    def _bind(self, connection: Connection) -> None:
        self.read_model = ReadModelRepository(connection)
        self.processed = ProcessedEventLog(connection)
