"""The notifications database schema (the Alembic migrations are generated from this)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.persistence.idempotency import idempotency_keys_table
from shared.persistence.tables import NAMING_CONVENTION, POSITION_TYPE, add_plumbing_tables
from shared.persistence.types import UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

plumbing = add_plumbing_tables(metadata)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("recipient", String(200), nullable=False),
    Column("department", String(40), nullable=True),
    Column("channel", String(20), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("secret", String(200), nullable=True),
    Column("filters", Text, nullable=False),  # JSON
    Column("mode", String(20), nullable=False),
    Column("digest_interval_seconds", Integer, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    # JSON {"time", "weekdays", "time_zone"} (domain/schedules.py); null: by the interval
    Column("digest_schedule", Text, nullable=True),
)
Index("ix_subscriptions_department", subscriptions.c.department)

#: One row whose number every subscription change raises, so workers know when their
#: in-memory index is stale without re-reading every subscription per event.
subscription_revision = Table(
    "subscription_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
)

# -- the read model of the goal graph, from goal and roll-up events -------------------------

objectives = Table(
    "objectives",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("departments", Text, nullable=False),  # JSON list
    Column("cycle", String(40), nullable=False),
    Column("status", String(20), nullable=True),  # the latest roll-up status
)

key_results = Table(
    "key_results",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("objective_id", String(64), nullable=False),
    Column("title", String(200), nullable=False),
)
Index("ix_key_results_objective_id", key_results.c.objective_id)

links = Table(
    "links",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("from_department", String(40), nullable=False),
    Column("to_type", String(20), nullable=False),
    Column("to_id", String(64), nullable=False),
)
Index("ix_links_to_id", links.c.to_id)

# -- deliveries ------------------------------------------------------------------------------

#: Each notice as JSON, stored once and referenced by the event deliveries and digest
#: items that carry it (not copied into each of them). A notice nothing references any
#: more is purged with the deliveries' retention.
notices = Table(
    "notices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("body", Text, nullable=False),  # JSON: Notice.to_dict()
    Column("created_at", UtcDateTime(), nullable=False),
)
Index("ix_notices_created_at", notices.c.created_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # also the webhook-id, stable across retries
    Column("subscription_id", String(36), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("kind", String(20), nullable=False),  # "event" | "digest"
    Column("event_id", String(100), nullable=False),  # the cause, or "digest:<id>"
    Column("message_type", String(100), nullable=False),
    Column("objective_id", String(64), nullable=True),
    # JSON data of the message, or null for an event's delivery: its notice is the data
    Column("payload", Text, nullable=True),
    Column("notice_id", String(36), nullable=True),
    Column("status", String(20), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_recipient_created", deliveries.c.recipient, deliveries.c.created_at)
Index("ix_deliveries_event_id", deliveries.c.event_id)
Index("ix_deliveries_notice_id", deliveries.c.notice_id)

digest_items = Table(
    "digest_items",
    metadata,
    Column("position", POSITION_TYPE, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("notice_id", String(36), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivery_id", String(36), nullable=True),  # the digest that carried it
    UniqueConstraint("subscription_id", "event_id", name="uq_digest_items_subscription_event"),
)
Index("ix_digest_items_pending", digest_items.c.subscription_id, digest_items.c.created_at,
      postgresql_where=digest_items.c.delivery_id.is_(None),
      sqlite_where=digest_items.c.delivery_id.is_(None))
Index("ix_digest_items_notice_id", digest_items.c.notice_id)

# -- settled statuses and who was told of an alarm ---------------------------------------------

#: Per objective: the latest status seen, since when (its event's time), whether it waits
#: to settle (``due_at``), and the last settled status announced (``announced``), with the
#: event that began it. Rows are claimed ``FOR UPDATE SKIP LOCKED`` when due.
status_watch = Table(
    "status_watch",
    metadata,
    Column("objective_id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("notice", Text, nullable=False),  # JSON: the notice of the change that began it
    Column("due_at", UtcDateTime(), nullable=True),  # null: nothing waits to be announced
    Column("announced", String(20), nullable=True),
    Column("announced_event_id", String(100), nullable=True),
    Column("announced_notice", Text, nullable=True),  # JSON
)
Index("ix_status_watch_due", status_watch.c.due_at)

#: Who was told that an objective went at_risk or off_track: told once when it recovers.
alarms_told = Table(
    "alarms_told",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("objective_id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("told_at", UtcDateTime(), nullable=False),
)
Index("ix_alarms_told_objective_id", alarms_told.c.objective_id)

#: ``Idempotency-Key``s of ``POST /v1/subscriptions`` (shared/idempotency.py).
idempotency_keys = idempotency_keys_table(metadata)
