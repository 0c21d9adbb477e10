"""Repositories: load and save domain objects through one open connection.

Updates are conditional on the version read (optimistic concurrency): when another
transaction changed the row meanwhile, :class:`StaleVersion` is raised and nothing is
written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, or_, select, update

from services.goals.adapters import tables
from services.goals.adapters.token_cache import notify_revoked
from services.goals.domain.access import ApiToken, Role
from services.goals.domain.errors import StaleVersion
from services.goals.domain.model import Cycle, Department


class DepartmentRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, key: str) -> Department | None:
        row = self.connection.execute(
            select(tables.departments).where(tables.departments.c.key == key)
        ).first()
        return Department(**row._mapping) if row else None

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[Department], int]:
        t = tables.departments
        rows, total = page_of(self.connection, select(t), (t.c.key,), offset, limit)
        return [Department(**row._mapping) for row in rows], total

    def add(self, department: Department) -> None:
        self.connection.execute(tables.departments.insert().values(**vars(department)))

    def save(self, department: Department) -> None:
        save_versioned(self.connection, tables.departments, tables.departments.c.key,
                        department.key, vars(department))


class CycleRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, key: str) -> Cycle | None:
        t = tables.cycles
        row = self.connection.execute(select(t).where(t.c.key == key)).first()
        return Cycle(**row._mapping) if row else None

    def list(self, offset: int = 0, limit: int = 100, active_on: Any = None
             ) -> tuple[list[Cycle], int]:
        t = tables.cycles
        query = select(t)
        if active_on is not None:
            query = query.where(t.c.starts_on <= active_on, t.c.ends_on >= active_on)
        rows, total = page_of(self.connection, query, (t.c.starts_on.desc(), t.c.key), offset,
                              limit)
        return [Cycle(**row._mapping) for row in rows], total

    def add(self, cycle: Cycle) -> None:
        self.connection.execute(tables.cycles.insert().values(**vars(cycle)))

    def save(self, cycle: Cycle) -> None:
        save_versioned(self.connection, tables.cycles, tables.cycles.c.key, cycle.key, vars(cycle))


class TokenRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def by_hash(self, token_hash: str) -> ApiToken | None:
        row = self.connection.execute(_token_by_hash(), {"token_hash": token_hash}).first()
        return _token(row) if row else None

    def get(self, token_id: str) -> ApiToken | None:
        t = tables.api_tokens
        row = self.connection.execute(select(t).where(t.c.id == token_id)).first()
        return _token(row) if row else None

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[ApiToken], int]:
        t = tables.api_tokens
        rows, total = page_of(self.connection, select(t), (t.c.created_at, t.c.id), offset,
                              limit)
        return [_token(row) for row in rows], total

    def add(self, token: ApiToken) -> None:
        self.connection.execute(tables.api_tokens.insert().values(
            id=token.id, name=token.name, role=token.role.value, department_key=token.department,
            token_hash=token.token_hash, created_by=token.created_by,
            created_at=token.created_at, revoked_at=token.revoked_at))

    def revocation_count(self) -> int:
        """How many tokens were ever revoked (tokens are never deleted nor un-revoked)."""
        t = tables.api_tokens
        return int(self.connection.execute(
            select(func.count()).select_from(t).where(t.c.revoked_at.is_not(None))).scalar_one())

    def save(self, token: ApiToken) -> None:
        self.connection.execute(update(tables.api_tokens).where(tables.api_tokens.c.id == token.id)
                                .values(revoked_at=token.revoked_at))
        if token.revoked_at is not None:
            notify_revoked(self.connection, token.id)  # processes that remember it forget it


class AuditLog:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def record(self, *, occurred_at: datetime, actor: str, actor_role: str, action: str,
               item_type: str, item_id: str, department: str | None,
               before: dict[str, Any] | None, after: dict[str, Any] | None,
               event_id: str | None, request_id: str | None) -> None:
        self.connection.execute(tables.audit_log.insert(), audit_row(
            occurred_at=occurred_at, actor=actor, actor_role=actor_role, action=action,
            item_type=item_type, item_id=item_id, department=department, before=before,
            after=after, event_id=event_id, request_id=request_id))

    def query(self, *, item_type: str | None = None, item_id: str | None = None,
              department: str | None = None, since: datetime | None = None,
              until: datetime | None = None, offset: int = 0, limit: int = 100
              ) -> tuple[list[Row[Any]], int]:
        t = tables.audit_log
        query = select(t)
        if item_type:
            query = query.where(t.c.item_type == item_type)
        if item_id:
            query = query.where(t.c.item_id == item_id)
        if department:  # collective items are recorded as "marketing+sales"
            query = query.where(or_(t.c.department_key == department,
                                    t.c.department_key.like(f"{department}+%"),
                                    t.c.department_key.like(f"%+{department}"),
                                    t.c.department_key.like(f"%+{department}+%")))
        if since:
            query = query.where(t.c.occurred_at >= since)
        if until:
            query = query.where(t.c.occurred_at < until)
        return page_of(self.connection, query, (t.c.id.desc(),), offset, limit)


def audit_row(*, occurred_at: datetime, actor: str, actor_role: str, action: str,
              item_type: str, item_id: str, department: str | None,
              before: dict[str, Any] | None, after: dict[str, Any] | None,
              event_id: str | None, request_id: str | None) -> dict[str, Any]:
    """An audit entry as a row of ``audit_log`` (its states as JSON text)."""
    return {"occurred_at": occurred_at, "actor": actor, "actor_role": actor_role,
            "action": action, "item_type": item_type, "item_id": item_id,
            "department_key": department,
            "before": json.dumps(before) if before is not None else None,
            "after": json.dumps(after) if after is not None else None,
            "event_id": event_id, "request_id": request_id}


def page_of(connection: Connection, query: Select[Any], order: Iterable[Any], offset: int,
            limit: int) -> tuple[list[Row[Any]], int]:
    """One page of ``query`` in ``order``, and how many rows the whole query has."""
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = list(connection.execute(query.order_by(*order).offset(offset).limit(limit)))
    return rows, int(total)


def _token(row: Row[Any]) -> ApiToken:
    m = row._mapping
    return ApiToken(id=m["id"], name=m["name"], role=Role(m["role"]),
                    department=m["department_key"], token_hash=m["token_hash"],
                    created_by=m["created_by"], created_at=m["created_at"],
                    revoked_at=m["revoked_at"])


@functools.cache
def _token_by_hash() -> Select[Any]:
    """Every request's token lookup, built once (served from the compiled cache)."""
    t = tables.api_tokens
    return select(t).where(t.c.token_hash == bindparam("token_hash"))


_KEY, _EXPECTED_VERSION = "okr_saved_key", "okr_expected_version"


@functools.cache
def _versioned_update(table: Any, key_column: Any) -> Any:
    """``UPDATE table SET <the columns given> WHERE key = ? AND version = ?``, built once: the
    SET clause comes from the parameters, so SQLAlchemy's compiled cache serves every call
    (``.values(**values)`` would build and hash a new statement each time)."""
    return update(table).where(key_column == bindparam(_KEY),
                               table.c.version == bindparam(_EXPECTED_VERSION))


def save_versioned(connection: Connection, table: Any, key_column: Any, key: str,
                    values: dict[str, Any], *, read_version: int | None = None) -> None:
    """Write ``values`` only if the stored version is still ``read_version`` (by default
    the one before this change)."""
    expected = values["version"] - 1 if read_version is None else read_version
    result = connection.execute(
        _versioned_update(table, key_column), {**values, _KEY: key, _EXPECTED_VERSION: expected})
    if result.rowcount != 1:
        raise StaleVersion(f"{table.name} {key!r} was changed by someone else")
