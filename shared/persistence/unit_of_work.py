"""What every SQLAlchemy unit of work of the platform does the same way.

A service's unit of work names its repositories and builds them on the connection in
:meth:`SqlUnitOfWork._bind`; this base opens and closes the transaction (its own, or the
consumer runner's it was given: :class:`~shared.persistence.transactions.TransactionScope`),
commits it, and appends events to the outbox in it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from shared.cloudevents import CloudEvent
from shared.persistence.outbox import Outbox
from shared.persistence.transactions import TransactionScope


class SqlUnitOfWork:
    def __init__(self, engine: Engine | None, outbox: Outbox, *,
                 connection: Connection | None = None, writes: bool = True) -> None:
        self._scope = TransactionScope(engine, connection=connection, writes=writes)
        self._outbox = outbox

    def _bind(self, connection: Connection) -> None:
        """Build this service's repositories on ``connection``."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._bind(self._scope.open())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._scope.close()

    def commit(self) -> None:
        self._scope.commit()

    def publish(self, events: list[tuple[CloudEvent, str]]) -> None:
        """Append ``events`` (each with its message key) to the outbox, in this transaction."""
        assert self._scope.connection is not None
        self._outbox.publish(self._scope.connection, events)
