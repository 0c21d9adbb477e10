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

from sqlalchemy import Connection, Table

from shared.persistence.dialects import insert_keys_returning_new


class ProcessedEvents:
    """The ``processed_events`` rows of one consumer group."""

    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer

    def record_new(self, connection: Connection, ids: set[str]) -> set[str]:
        """Record ``ids`` as processed in ``connection``'s transaction; return the new ones."""
        # sorted: two groups' transactions recording overlapping ids cannot deadlock
        return insert_keys_returning_new(connection, self.table, "event_id", sorted(ids), {
            "consumer": self.consumer, "processed_at": datetime.now(UTC)})
