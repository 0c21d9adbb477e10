"""The audit log in the database: who changed what, with the states before and after."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from services.goals.adapters import tables
from services.goals.adapters.queries import page_of


class SqlAuditLog:
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


