"""The goals database schema (the Alembic migrations are generated from this)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.persistence.tables import add_plumbing_tables
from shared.persistence.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
