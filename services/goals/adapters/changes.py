"""Writes a unit of work makes at its commit: check-ins, outbox rows, audit entries, and the
versioned update of the key result they change.

Append-only rows that nothing reads back before the commit, and a versioned update of a row
the transaction has already locked, are queued and written together just before the commit,
in as few statements as the database allows. On PostgreSQL one update and one row per table
(a check-in: its key result, the check-in, its event, its audit entry) are one statement,
data-modifying ``WITH`` clauses whose result is the number of rows the update matched; more
rows (a batch of check-ins) are one update per key result and one multi-row insert per
table. Everything is written after every lock the transaction takes, so for one key the
outbox position order is still the commit order. A savepoint that rolls back drops what was
queued inside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Select, Table, bindparam, func, insert, select, update

from services.goals.adapters.queries import save_versioned
from services.goals.domain.errors import StaleVersion
from shared.persistence.dialects import has_writable_ctes


@dataclass(frozen=True)
class _Update:
    table: Table
    key_column: str
    key: str
    values: dict[str, Any]
    read_version: int


class PendingWrites:
    def __init__(self) -> None:
        self._inserts: list[tuple[Table, dict[str, Any]]] = []
        self._updates: list[_Update] = []

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._inserts.append((table, row))

    def update_versioned(self, table: Table, key_column: str, key: str,
                         values: dict[str, Any], read_version: int) -> None:
        """``UPDATE table SET values WHERE key_column = key AND version = read_version``;
        :class:`StaleVersion` at the commit if it matches no row."""
        self._updates.append(_Update(table, key_column, key, values, read_version))

    def __bool__(self) -> bool:
        return bool(self._inserts or self._updates)

    def mark(self) -> tuple[int, int]:
        return len(self._inserts), len(self._updates)

    def drop_since(self, mark: tuple[int, int]) -> None:
        del self._inserts[mark[0]:]
        del self._updates[mark[1]:]

    def write(self, connection: Connection) -> None:
        """Write everything queued, then forget it."""
        inserts, updates = self._inserts, self._updates
        self._inserts, self._updates = [], []
        if not inserts and not updates:
            return
        tables = [table for table, _ in inserts]
        if (has_writable_ctes(connection) and len(updates) == 1 and inserts
                and len(set(tables)) == len(tables)):
            _write_in_one_statement(connection, updates[0], inserts)
            return
        for change in updates:
            save_versioned(connection, change.table, change.table.c[change.key_column],
                           change.key, change.values, read_version=change.read_version)
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for table, row in inserts:
            by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            connection.execute(_insert(table), rows)


def _write_in_one_statement(connection: Connection, change: _Update,
                            inserts: list[tuple[Table, dict[str, Any]]]) -> None:
    shape = ((change.table, change.key_column, tuple(change.values)),
             tuple((table, tuple(row)) for table, row in inserts))
    parameters = {f"update_{name}": value for name, value in change.values.items()}
    parameters["update_key"], parameters["update_read_version"] = change.key, change.read_version
    parameters.update({f"{table.name}_{name}": value for table, row in inserts
                       for name, value in row.items()})
    matched = connection.execute(_one_statement(shape), parameters).scalar_one()
    if matched != 1:
        raise StaleVersion(f"{change.table.name} {change.key!r} was changed by someone else")


@functools.cache
def _one_statement(shape: tuple[tuple[Table, str, tuple[str, ...]],
                                tuple[tuple[Table, tuple[str, ...]], ...]]) -> Select[Any]:
    """``WITH updated AS (UPDATE ... RETURNING key), row_0 AS (INSERT ...), ... SELECT
    count(*) FROM updated``, built once per shape (SQLAlchemy's compiled cache serves every
    call). PostgreSQL runs every data-modifying ``WITH``, referenced or not."""
    (table, key_column, columns), inserts = shape
    updated = (update(table)
               .where(table.c[key_column] == bindparam("update_key"),
                      table.c.version == bindparam("update_read_version"))
               .values({name: bindparam(f"update_{name}", type_=table.c[name].type)
                        for name in columns})
               .returning(table.c[key_column])
               .cte("updated"))
    statement = select(func.count()).select_from(updated)
    for number, (into, row_columns) in enumerate(inserts):
        statement = statement.add_cte(insert(into).values({
            name: bindparam(f"{into.name}_{name}", type_=into.c[name].type)
            for name in row_columns}).cte(f"row_{number}"))
    return statement


@functools.cache
def _insert(table: Table) -> Insert:
    return insert(table)
