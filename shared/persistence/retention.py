"""Retention: how the tables that would otherwise grow without bound are kept bounded.

A :class:`Retention` names a table, the time column that ages its rows, how long a row is
kept, and which rows may go at all (an outbox row only once published, a delivery only once
settled). :func:`purge_expired` deletes what is older, :data:`PURGE_BATCH` rows per
transaction, so a large backlog never holds locks or the SQLite write lock for long; each
service's housekeeping loop (``shared/runtime/housekeeping.py``) runs its retentions. Which
table is kept how long, and why, is in ``docs/operations.md`` (Storage and retention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, select, tuple_

from shared.clock import Clock, system_clock
from shared.persistence.engine import writing

#: Rows deleted per transaction.
PURGE_BATCH = 5_000


@dataclass(frozen=True)
class Retention:
    """Rows of ``table`` whose ``column`` is older than ``keep`` (and that match ``only``)
    are deleted."""

    table: Table
    column: str
    keep: timedelta
    only: ColumnElement[bool] | None = None

    @property
    def name(self) -> str:
        return self.table.name


def delete_oldest(connection: Connection, table: Table, condition: ColumnElement[bool],
                  limit: int) -> int:
    """Delete at most ``limit`` rows of ``table`` that match ``condition``, in
    ``connection``'s transaction; how many were deleted."""
    key = list(table.primary_key.columns)
    chosen = select(*key).where(condition).limit(limit)
    target = key[0] if len(key) == 1 else tuple_(*key)  # row values: SQLite >= 3.15
    return int(connection.execute(delete(table).where(target.in_(chosen))).rowcount)


def purge_expired(engine: Engine, retention: Retention, clock: Clock = system_clock,
                  batch: int = PURGE_BATCH) -> int:
    """Delete the rows ``retention`` lets go, ``batch`` per transaction; how many."""
    horizon: datetime = clock() - retention.keep
    condition = retention.table.c[retention.column] < horizon
    if retention.only is not None:
        condition = condition & retention.only
    deleted = 0
    while True:
        with writing(engine).begin() as connection:
            purged = delete_oldest(connection, retention.table, condition, batch)
        deleted += purged
        if purged < batch:
            return deleted


def purges_of(engine: Engine, retentions: Iterable[Retention], clock: Clock = system_clock
              ) -> dict[str, Callable[[], int]]:
    """One purge per retention, by table name (what a housekeeping loop runs)."""
    return {retention.name: partial(purge_expired, engine, retention, clock)
            for retention in retentions}
