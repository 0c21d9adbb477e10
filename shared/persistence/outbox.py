"""Writing events into the transactional outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select

from shared.cloudevents import CloudEvent
from shared.contract import TOPIC_OF, EventType
from shared.persistence.dialects import notify_on_commit

#: PostgreSQL channel the relay listens on; NOTIFY is delivered only when the writing
#: transaction commits, so the relay wakes exactly when there is something to publish.
NOTIFY_CHANNEL = "okr_outbox"


class Outbox:
    """Append events to the outbox table inside an open transaction."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def append(self, connection: Connection, event: CloudEvent, key: str, *,
               notify: bool = True) -> None:
        """Insert the event; with ``notify=False`` the caller calls :meth:`notify` once
        before it commits (one NOTIFY per transaction instead of one per event)."""
        # One constant statement with the values as parameters: SQLAlchemy compiles it
        # once and caches it (``insert().values(...)`` builds a new cache key every call).
        connection.execute(self.table.insert(), self.row(event, key))
        if notify:
            self.notify(connection)

    def row(self, event: CloudEvent, key: str) -> dict[str, Any]:
        """The outbox row of ``event``, for a caller that inserts it itself (with others)."""
        return {
            "event_id": event.id,
            "topic": TOPIC_OF[EventType(event.type)].value,
            "message_key": key,
            "event_type": event.type,
            "payload": event.to_json().decode(),
            "created_at": datetime.now(UTC),
        }

    def append_many(self, connection: Connection, events: list[tuple[CloudEvent, str]]) -> None:
        """Insert several (event, key) pairs in one multi-row statement; no NOTIFY (call
        :meth:`notify` once before committing)."""
        if events:
            connection.execute(self.table.insert(), [self.row(event, key) for event, key in events])

    def publish(self, connection: Connection, events: list[tuple[CloudEvent, str]]) -> None:
        """Insert the (event, key) pairs in one statement and wake the relay once; nothing
        for no events."""
        if events:
            self.append_many(connection, events)
            self.notify(connection)

    def notify(self, connection: Connection) -> None:
        """Wake the relay (PostgreSQL NOTIFY, delivered when the transaction commits)."""
        notify_on_commit(connection, NOTIFY_CHANNEL)

    def pending_count(self, connection: Connection) -> int:
        query = (select(func.count()).select_from(self.table)
                 .where(self.table.c.published_at.is_(None)))
        return int(connection.execute(query).scalar_one())
