"""The processed-event record of an idempotent consumer: which event ids it has applied.

A consumer records the ids of the events it applies in the same transaction as their
effects, so a redelivered event changes nothing. One way serves one event and a batch:
a multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` records the ids and answers
which of them were new. Inside the transaction the order of recording and applying does
not matter (both commit or neither does); the insert goes through the primary key index
whatever the planner thinks of the table, and a group member recording the same id
concurrently (after a rebalance) waits for the first transaction and then sees a
duplicate. Ids are inserted sorted, so two such transactions cannot deadlock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, String, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

ID_CHUNK = 1000  # event ids per multi-row insert (SQLite)


class ProcessedEvents:
    """The ``processed_events`` rows of one consumer group."""

    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer

    def record_new(self, connection: Connection, ids: set[str]) -> set[str]:
        """Record ``ids`` as processed in ``connection``'s transaction; return the new ones."""
        table = self.table
        now = datetime.now(UTC)
        ordered = sorted(ids)
        if connection.dialect.name == "postgresql":
            # one array parameter: a short statement the driver prepares once
            unnested = select(bindparam("consumer", type_=String),
                              func.unnest(bindparam("ids", type_=postgresql.ARRAY(String))),
                              bindparam("at", type_=table.c.processed_at.type))
            statement = (postgresql.insert(table)
                         .from_select(["consumer", "event_id", "processed_at"], unnested)
                         .on_conflict_do_nothing().returning(table.c.event_id))
            return set(connection.execute(statement, {
                "consumer": self.consumer, "ids": ordered, "at": now}).scalars())
        fresh: set[str] = set()
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.event_id)
        for start in range(0, len(ordered), ID_CHUNK):
            fresh.update(connection.execute(statement, [
                {"consumer": self.consumer, "event_id": event_id, "processed_at": now}
                for event_id in ordered[start:start + ID_CHUNK]]).scalars())
        return fresh
