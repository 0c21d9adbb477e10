"""The statements that differ between PostgreSQL and SQLite, each behind a named function.

Code elsewhere asks for what it needs (a lock, a notification, a transaction that may
write) and does not test the dialect itself. Keep each function small and named for what it
does; say in its docstring what each database does.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, RootTransaction, func, select


def is_postgresql(bind: Connection | Engine) -> bool:
    return bind.dialect.name == "postgresql"


def is_sqlite(bind: Connection | Engine) -> bool:
    return bind.dialect.name == "sqlite"


def advisory_xact_lock(connection: Connection, name: str) -> None:
    """Hold the lock called ``name`` until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on the name's hash. SQLite: nothing, since
    a writing transaction begins with ``BEGIN IMMEDIATE`` and so writers already take turns.
    """
    if is_postgresql(connection):
        connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


def notify_on_commit(connection: Connection, channel: str, payload: str = "") -> None:
    """PostgreSQL: ``NOTIFY channel, payload``, delivered when the transaction commits.
    SQLite has no listeners: nothing."""
    if is_postgresql(connection):
        connection.execute(select(func.pg_notify(channel, payload)))


def has_writable_ctes(connection: Connection) -> bool:
    """Whether ``WITH x AS (UPDATE/INSERT ... RETURNING ...)`` runs (PostgreSQL: yes)."""
    return is_postgresql(connection)


def continue_or_begin(connection: Connection, *, writes: bool) -> RootTransaction:
    """The transaction a read left open on ``connection``, or a new one.

    Continuing it is the same as beginning anew on PostgreSQL (read committed: each statement
    sees what is committed; a read wrote nothing), and saves a ROLLBACK and a BEGIN. A SQLite
    writer needs ``BEGIN IMMEDIATE`` (the write lock up front, so two writers cannot deadlock
    upgrading their locks) rather than the read's deferred transaction, so it ends that one
    first.
    """
    current = connection.get_transaction()
    if current is not None and (not current.is_active or (writes and is_sqlite(connection))):
        current.rollback()
        current = None
    if current is None:
        connection.execution_options(sqlite_begin="IMMEDIATE" if writes else "DEFERRED")
        current = connection.begin()
    return current
