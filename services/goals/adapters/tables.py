"""The goals database schema (the Alembic migrations are generated from this)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.persistence.idempotency import idempotency_keys_table
from shared.persistence.tables import NAMING_CONVENTION, add_plumbing_tables
from shared.persistence.types import UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

plumbing = add_plumbing_tables(metadata)

departments = Table(
    "departments",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

cycles = Table(
    "cycles",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("department_key", String(40), ForeignKey("departments.key"), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("action", String(100), nullable=False),
    Column("item_type", String(40), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("department_key", String(40), nullable=True),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("event_id", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
)
Index("ix_audit_log_item", audit_log.c.item_type, audit_log.c.item_id)
Index("ix_audit_log_department_time", audit_log.c.department_key, audit_log.c.occurred_at)
Index("ix_audit_log_occurred_at", audit_log.c.occurred_at)

objectives = Table(
    "objectives",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("cycle", String(40), ForeignKey("cycles.key"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("owner", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

objective_departments = Table(
    "objective_departments",
    metadata,
    Column("objective_id", String(36), ForeignKey("objectives.id", ondelete="CASCADE"),
           primary_key=True),
    Column("department_key", String(40), ForeignKey("departments.key"), primary_key=True),
)
Index("ix_objective_departments_department", objective_departments.c.department_key)

key_results = Table(
    "key_results",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("objective_id", String(36), ForeignKey("objectives.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("measure", String(20), nullable=False),
    Column("start", Double, nullable=False),
    Column("target", Double, nullable=False),
    Column("unit", String(20), nullable=False),
    Column("weight", Double, nullable=False),
    Column("aggregation", String(20), nullable=False),
    Column("current", Double, nullable=False),
    Column("confidence", Double, nullable=True),
    Column("last_checkin_at", UtcDateTime(), nullable=True),
    Column("observed_at", UtcDateTime(), nullable=True),  # when ``current`` was true
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

check_ins = Table(
    "check_ins",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_result_id", String(36), ForeignKey("key_results.id", ondelete="CASCADE"),
           nullable=False),
    Column("value", Double, nullable=False),
    Column("confidence", Double, nullable=True),
    Column("note", Text, nullable=False),
    Column("author", String(100), nullable=False),
    Column("source", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("observed_at", UtcDateTime(), nullable=False),  # when the value was true
)
# the stale key results (``GET /v1/key-results?stale_before=``) are found and ordered by it
Index("ix_key_results_last_checkin_at", key_results.c.last_checkin_at)
Index("ix_check_ins_key_result_time", check_ins.c.key_result_id, check_ins.c.created_at)

contributions = Table(
    "contributions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("child_type", String(20), nullable=False),
    Column("child_id", String(36), nullable=False),
    Column("parent_type", String(20), nullable=False),
    Column("parent_id", String(36), nullable=False),
    Column("weight", Double, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("child_id", "parent_id", name="uq_contributions_edge"),
)
Index("ix_contributions_parent", contributions.c.parent_id)

links = Table(
    "links",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("from_type", String(20), nullable=False),
    Column("from_id", String(36), nullable=False, index=True),
    Column("from_department", String(40), ForeignKey("departments.key"), nullable=False,
           index=True),
    Column("to_type", String(20), nullable=False),
    Column("to_id", String(36), nullable=False, index=True),
    Column("to_department", String(40), ForeignKey("departments.key"), nullable=False,
           index=True),
    Column("note", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("from_id", "to_id", "kind", name="uq_links_edge"),
)

# Keys of every creating POST and check-in (shared/idempotency.py).
idempotency_keys = idempotency_keys_table(metadata)
