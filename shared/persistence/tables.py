"""Tables every service's database has: the transactional outbox and processed events.

Each service adds them to its own ``MetaData`` (and so to its own Alembic migrations) with
:func:`add_plumbing_tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.persistence.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint and index names of every service's tables (Alembic migrations rely on them)."""

# SQLite only auto-increments an INTEGER PRIMARY KEY.
POSITION_TYPE = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class PlumbingTables:
    outbox: Table
    processed_events: Table


def add_plumbing_tables(metadata: MetaData) -> PlumbingTables:
    outbox = Table(
        "outbox_events",
        metadata,
        # Allocated after the aggregate's row lock is taken, so for one key the position
        # order is the commit order; the relay publishes in position order.
        Column("position", POSITION_TYPE, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("message_key", String(200), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Column("kafka_partition", Integer, nullable=True),
        Column("kafka_offset", BigInteger, nullable=True),
    )
    Index(
        "ix_outbox_events_unpublished",
        outbox.c.position,
        postgresql_where=outbox.c.published_at.is_(None),
        sqlite_where=outbox.c.published_at.is_(None),
    )
    Index("ix_outbox_events_published_at", outbox.c.published_at)
    processed = Table(
        "processed_events",
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    # the purge of ids past their retention finds them without reading the whole table
    Index("ix_processed_events_processed_at", processed.c.processed_at)
    return PlumbingTables(outbox=outbox, processed_events=processed)
