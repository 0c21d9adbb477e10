"""Insert-or-update and insert-or-skip, in the dialect of the connection (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(connection: Connection, table: Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def upsert(connection: Connection, table: Table, values: dict[str, Any],
           keys: list[str]) -> None:
    statement = _insert(connection, table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


def insert_ignoring_duplicates(connection: Connection, table: Table,
                               values: dict[str, Any]) -> bool:
    """Insert the row unless a unique key already holds it; True when it was inserted."""
    result = connection.execute(_insert(connection, table).values(**values)
                                .on_conflict_do_nothing())
    return bool(result.rowcount)


def insert_many_ignoring_duplicates(connection: Connection, table: Table,
                                    rows: list[dict[str, Any]]) -> None:
    """Insert the rows (one statement, many parameter sets), skipping those already held."""
    if rows:
        connection.execute(_insert(connection, table).on_conflict_do_nothing(), rows)
