"""The statements that differ between PostgreSQL and SQLite, each behind a named function.

Code elsewhere asks for what it needs (a lock, a notification, a transaction that may
write) and does not test the dialect itself. Keep each function small and named for what it
does; say in its docstring what each database does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Integer,
    RootTransaction,
    Select,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

SelectT = TypeVar("SelectT", bound=Select[Any])


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


# -- INSERT ... ON CONFLICT (both databases have it; SQLAlchemy builds it per dialect) -------

def conflict_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into ``table`` that takes ``ON CONFLICT`` clauses, in the connection's
    dialect (PostgreSQL's and SQLite's constructs differ in SQLAlchemy, not in SQL)."""
    if is_postgresql(connection):
        return postgresql.insert(table)
    return sqlite.insert(table)


#: Column types whose values go into a PostgreSQL array parameter as they are (scalars
#: the driver adapts; a TypeDecorator over one of them keeps its own bind processing).
_ARRAY_SAFE = (String, Integer, BigInteger, Float, Boolean, DateTime, Date)


def _scalar_type(table: Table, name: str) -> Any:
    kind = table.c[name].type
    return getattr(kind, "impl", kind)


def _arrays(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]] | None:
    """The rows as one list per column, the parameters of :func:`_unnested_insert`; None
    when they do not fit in arrays: rows naming different columns, a column of a
    non-scalar type, or values of different Python types in one column (an array holds one
    type; a float column's integers become floats)."""
    columns = rows[0].keys()
    if not all(isinstance(_scalar_type(table, name), _ARRAY_SAFE) for name in columns):
        return None
    if any(row.keys() != columns for row in rows):
        return None
    arrays = {}
    for name in columns:
        values = [row[name] for row in rows]
        if isinstance(_scalar_type(table, name), Float):
            values = [None if value is None else float(value) for value in values]
        if len({type(value) for value in values if value is not None}) > 1:
            return None
        arrays[f"unnest_{name}"] = values
    return arrays


@functools.lru_cache(maxsize=256)
def _unnested_insert(table: Table, columns: tuple[str, ...],
                     shared: tuple[str, ...] = ()) -> postgresql.Insert:
    """``INSERT INTO table (columns, shared) SELECT *, :shared_x, ... FROM unnest(:unnest_a,
    :unnest_b, ...)``: one array parameter per column (:func:`_arrays`), however many rows,
    and one plain parameter per ``shared`` column (a value every row has). Built once per
    table and columns (the statement is constant, so SQLAlchemy and the driver prepare it
    once too)."""
    given = func.unnest(*[
        cast(bindparam(f"unnest_{name}", type_=postgresql.ARRAY(table.c[name].type)),
             postgresql.ARRAY(table.c[name].type)) for name in columns
    ]).table_valued(*columns, name="given").render_derived()
    constants = [bindparam(f"shared_{name}", type_=table.c[name].type) for name in shared]
    return postgresql.insert(table).from_select([*columns, *shared],
                                                select(*given.c, *constants))


@functools.lru_cache(maxsize=256)
def _unnested_upsert(table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
                     keep_greater: str | None, add_up: str | None,
                     insert_only: tuple[str, ...]) -> postgresql.Insert:
    statement = _unnested_insert(table, columns)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_=_conflict_updates(statement, table, columns, (*keys, *insert_only), keep_greater,
                               add_up, greatest=func.greatest))


def _conflict_updates(statement: postgresql.Insert | sqlite.Insert, table: Table,
                      columns: Iterable[str], keys: Sequence[str], keep_greater: str | None,
                      add_up: str | None, greatest: Any) -> dict[str, Any]:
    excluded = statement.excluded
    updates: dict[str, Any] = {name: excluded[name] for name in columns if name not in keys}
    if keep_greater is not None:
        updates[keep_greater] = greatest(table.c[keep_greater], excluded[keep_greater])
    if add_up is not None:
        updates[add_up] = table.c[add_up] + excluded[add_up]
    return updates


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
           keys: Sequence[str], *, keep_greater: str | None = None,
           add_up: str | None = None, insert_only: tuple[str, ...] = ()) -> None:
    """Insert ``rows`` (one statement); on a key conflict overwrite the row's other columns
    named in the rows, except that ``keep_greater`` keeps the larger of the old and new
    value (PostgreSQL ``GREATEST``, SQLite's two-argument ``MAX``), ``add_up`` adds the
    new value to the old, and the ``insert_only`` columns keep the old value (the rows
    give them for an insert only: a NOT NULL column is checked before the conflict is).

    PostgreSQL: ``INSERT ... SELECT * FROM unnest(...)``, one array parameter per column
    (an ``executemany`` sends and runs the statement once per row), unless two rows have
    the same key (a row is updated once per statement there): those go one after another,
    the last one winning. SQLite: one ``executemany``."""
    if not rows:
        return
    if (is_postgresql(connection)
            and len({tuple(row[key] for key in keys) for row in rows}) == len(rows)):
        arrays = _arrays(table, rows)
        if arrays is not None:
            connection.execute(_unnested_upsert(table, tuple(rows[0]), tuple(keys),
                                                keep_greater, add_up, insert_only), arrays)
            return
    statement = conflict_insert(connection, table)
    greatest = func.greatest if is_postgresql(connection) else func.max
    connection.execute(statement.on_conflict_do_update(
        index_elements=list(keys),
        set_=_conflict_updates(statement, table, rows[0], (*keys, *insert_only),
                               keep_greater, add_up, greatest)), list(rows))


def insert_ignoring_duplicates(connection: Connection, table: Table,
                               values: Mapping[str, Any]) -> bool:
    """Insert the row unless a unique key already holds it; True when it was inserted."""
    result = connection.execute(conflict_insert(connection, table).on_conflict_do_nothing(),
                                dict(values))
    return bool(result.rowcount)


def insert_many_ignoring_duplicates(connection: Connection, table: Table,
                                    rows: Sequence[Mapping[str, Any]],
                                    shared: Mapping[str, Any] | None = None) -> None:
    """Insert the rows (one statement), skipping those a unique key already holds (also a
    row that an earlier one of ``rows`` holds); ``shared``: the values of columns that
    every row has alike. PostgreSQL: one array parameter per column, as :func:`upsert`,
    and the ``shared`` values once each (not an array repeating them: every element of an
    array is adapted on its own); SQLite: one ``executemany``."""
    if not rows:
        return
    shared = shared or {}
    arrays = _arrays(table, rows) if is_postgresql(connection) else None
    if arrays is not None:
        statement = _unnested_insert(table, tuple(rows[0]), tuple(shared))
        connection.execute(statement.on_conflict_do_nothing(),
                           {**arrays, **{f"shared_{name}": v for name, v in shared.items()}})
        return
    connection.execute(conflict_insert(connection, table).on_conflict_do_nothing(),
                       [{**row, **shared} for row in rows] if shared else list(rows))


def among(connection: Connection, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column`` is one of ``values``: on PostgreSQL ``column = ANY(:array)``, one
    parameter, so the statement is the same whatever the count (the driver parses and
    prepares it once); elsewhere ``column IN (...)``."""
    listed = sorted(set(values))
    if is_postgresql(connection):
        return column == any_(cast(bindparam(None, listed, type_=postgresql.ARRAY(column.type)),
                                   postgresql.ARRAY(column.type)))
    return column.in_(listed)


def among_rows(connection: Connection, columns: Sequence[Any],
               rows: Iterable[tuple[Any, ...]]) -> ColumnElement[bool]:
    """``(columns)`` is one of ``rows`` (tuples of values): on PostgreSQL ``IN (SELECT *
    FROM unnest(:a, :b, ...))``, one array parameter per column, the same statement
    whatever the count; elsewhere a row-value ``IN`` list (SQLite >= 3.15)."""
    listed = sorted(set(rows))
    if not is_postgresql(connection):
        return tuple_(*columns).in_(listed)
    given = func.unnest(*[
        cast(bindparam(None, [row[position] for row in listed],
                       type_=postgresql.ARRAY(column.type)), postgresql.ARRAY(column.type))
        for position, column in enumerate(columns)
    ]).table_valued(*[f"v{position}" for position in range(len(columns))]).render_derived()
    return tuple_(*columns).in_(select(*given.c))

# -- locking ---------------------------------------------------------------------------------

_ADVISORY_XACT_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(lock_key)) FROM (SELECT hashtextextended(name, 0) "
    "AS lock_key FROM unnest(CAST(:names AS text[])) AS name ORDER BY lock_key) AS ordered")


def advisory_xact_locks(connection: Connection, names: Iterable[str]) -> None:
    """Hold the locks called ``names`` until the transaction ends, taken in one statement
    and one order (their hashes'), so two transactions locking overlapping sets cannot
    deadlock. PostgreSQL: transaction-scoped advisory locks; SQLite: nothing, writers
    already take turns (``BEGIN IMMEDIATE``)."""
    if is_postgresql(connection):
        listed = list(names)
        if listed:
            connection.execute(_ADVISORY_XACT_LOCKS, {"names": listed})


def skipping_locked(connection: Connection, query: SelectT, of: Any = None) -> SelectT:
    """``query`` with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: rows another transaction
    holds are passed over, so workers never wait on each other; ``of``: lock only that
    table's rows of a join); unchanged on SQLite, whose writers take turns anyway."""
    if is_postgresql(connection):
        return query.with_for_update(skip_locked=True, of=of)
    return query


# -- types -----------------------------------------------------------------------------------

def stores_naive_datetimes(dialect: Dialect) -> bool:
    """SQLite keeps datetimes without an offset (this platform stores them in UTC);
    PostgreSQL's ``timestamptz`` keeps aware ones."""
    return dialect.name == "sqlite"


# -- many rows in one statement ---------------------------------------------------------------

KEYS_PER_SQLITE_INSERT = 1000  # rows per multi-row INSERT on SQLite (its parameter limit)


def insert_keys_returning_new(connection: Connection, table: Table, key: str,
                              keys: Sequence[str], row: Mapping[str, Any]) -> set[str]:
    """Insert one row per key (``key`` column = each of ``keys``, the other columns from
    ``row``), skipping keys already held; return the keys that were new.

    PostgreSQL: one ``INSERT ... SELECT unnest(:keys) ... ON CONFLICT DO NOTHING RETURNING``
    with the keys as one array parameter (a short statement the driver prepares once).
    SQLite: multi-row inserts of :data:`KEYS_PER_SQLITE_INSERT` keys. Give the keys sorted
    when concurrent transactions insert overlapping sets, so they cannot deadlock.
    """
    if is_postgresql(connection):
        columns = list(row)
        unnested = select(*[bindparam(name, type_=table.c[name].type) for name in columns],
                          func.unnest(bindparam("keys",
                                                type_=postgresql.ARRAY(table.c[key].type))))
        statement = (postgresql.insert(table).from_select([*columns, key], unnested)
                     .on_conflict_do_nothing().returning(table.c[key]))
        return set(connection.execute(statement, {**row, "keys": list(keys)}).scalars())
    fresh: set[str] = set()
    statement = sqlite.insert(table).on_conflict_do_nothing().returning(table.c[key])
    for start in range(0, len(keys), KEYS_PER_SQLITE_INSERT):
        fresh.update(connection.execute(statement, [
            {**row, key: value} for value in keys[start:start + KEYS_PER_SQLITE_INSERT]
        ]).scalars())
    return fresh


def update_rows_by_key(connection: Connection, table: Table, key: str,
                       rows: Sequence[Mapping[str, Any]], same: Mapping[str, Any]) -> None:
    """Set, in each row of ``table`` whose ``key`` column equals a row's ``key``, that row's
    other values, and ``same`` in all of them.

    PostgreSQL: one ``UPDATE ... FROM unnest(:a, :b, ...)`` for all rows (an executemany of
    one UPDATE per row took a fifth of the outbox relay's time). SQLite: one UPDATE per row
    in one executemany.
    """
    if not rows:
        return
    columns = list(rows[0])
    if is_postgresql(connection):
        quote = connection.dialect.identifier_preparer.quote
        target = connection.dialect.identifier_preparer.format_table(table)
        arrays = ", ".join(
            f"CAST(:{name}_values AS {table.c[name].type.compile(connection.dialect)}[])"
            for name in columns)
        sets = [f"{quote(name)} = :{name}_same" for name in same]
        sets += [f"{quote(name)} = given.{quote(name)}" for name in columns if name != key]
        joined = text(
            f"UPDATE {target} SET {', '.join(sets)} FROM unnest({arrays}) AS given"
            f"({', '.join(quote(name) for name in columns)}) "
            f"WHERE {target}.{quote(key)} = given.{quote(key)}")
        connection.execute(joined, {
            **{f"{name}_same": value for name, value in same.items()},
            **{f"{name}_values": [row[name] for row in rows] for name in columns}})
        return
    statement = (update(table).where(table.c[key] == bindparam(f"b_{key}"))
                 .values(**same, **{name: bindparam(f"b_{name}")
                                    for name in columns if name != key}))
    connection.execute(statement, [{f"b_{name}": row[name] for name in columns}
                                   for row in rows])
