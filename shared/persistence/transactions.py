"""The connection and transaction a unit of work runs in.

A unit of work either opens its own (a connection from the pool and a transaction, which
on SQLite begins ``IMMEDIATE`` when the unit writes, so two writers cannot deadlock
upgrading their locks), or works on a connection it is given, inside a transaction its
owner began and commits: a consumer's handler runs in the consumer runner's transaction,
which also records the processed event ids.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, RootTransaction

from shared.persistence.engine import writing


class TransactionScope:
    def __init__(self, engine: Engine | None, *, connection: Connection | None = None,
                 writes: bool = True) -> None:
        if engine is None and connection is None:
            raise ValueError("a transaction scope needs an engine or a connection")
        self._engine = engine
        self._given = connection
        self._writes = writes
        self._transaction: RootTransaction | None = None
        self.connection: Connection | None = None

    def open(self) -> Connection:
        """The connection to work on; a transaction begun on it unless it was given.

        Once only: a second open would leave the first connection checked out."""
        if self.connection is not None:
            raise RuntimeError("this unit of work is already open; make a new one")
        if self._given is not None:
            self.connection = self._given
            return self._given
        assert self._engine is not None
        engine = writing(self._engine) if self._writes else self._engine
        self.connection = engine.connect()
        self._transaction = self.connection.begin()
        return self.connection

    def commit(self) -> None:
        """Commit the scope's own transaction; a given connection's owner commits it."""
        if self._transaction is not None:
            self._transaction.commit()

    def close(self) -> None:
        """Roll back what was not committed and return the connection (own scope only)."""
        if self._given is not None or self.connection is None:
            return
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self.connection.close()
            self.connection = None
            self._transaction = None
