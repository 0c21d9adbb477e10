"""A digest: many routine changes in one message, grouped by collective target and department.

A change to a collective target's item is listed under that target; any other change is
listed under each department that owns the item. Within a group, changes keep their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.notifications.domain.notices import Notice


def build_digest(notices: Sequence[Notice]) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    departments: dict[str, dict[str, Any]] = {}
    for notice in sorted(notices, key=lambda n: n.occurred_at):
        line = _line(notice)
        if notice.collective:
            group = targets.setdefault(notice.objective_id, {
                "objective_id": notice.objective_id, "title": notice.title,
                "departments": list(notice.departments), "changes": []})
            group["changes"].append(line)
            continue
        for department in notice.departments or ("(unknown)",):
            departments.setdefault(department, {"department": department, "changes": []})[
                "changes"].append(line)
    return {
        "count": len(notices),
        "collective_targets": sorted(targets.values(), key=lambda g: g["title"]),
        "departments": sorted(departments.values(), key=lambda g: g["department"]),
    }


def _line(notice: Notice) -> dict[str, Any]:
    return {"event_id": notice.event_id, "event_type": notice.event_type,
            "objective_id": notice.objective_id, "title": notice.title,
            "summary": notice.summary, "status": notice.status,
            "occurred_at": notice.occurred_at.isoformat().replace("+00:00", "Z")}
